"""The name of a user's own namespace.

The hub creates ``<prefix><user>`` on the user's first spawn (when it provisions
per-user namespaces) and runs their notebook and jobs there; tests and tools
that need to know where a user's things live compute the same name here.
Pure and stdlib-only.
"""

from __future__ import annotations

import hashlib
import re

NAMESPACE_PREFIX = "mlops-"
"""Default prefix of per-user namespaces (``GPUKubeSpawner.user_namespace_prefix``)."""


def safe_name(username: str, max_length: int = 50) -> str:
    """A DNS-1123 label fragment for ``username``; distinct users never collide.

    Names that are already lowercase letters, digits and inner dashes are kept;
    anything else (capitals, ``@``, dots, too long) gets a hash suffix, so
    ``Alice`` and ``alice`` map to different names.

    Stricter than ``labels.label_value`` (an object name may hold neither
    capitals nor dots) and deliberately a different function: namespaces
    already exist under these names, and renaming one would orphan it.
    """
    cleaned = re.sub(r"[^a-z0-9]+", "-", username.lower()).strip("-") or "user"
    if cleaned == username and len(cleaned) <= max_length:
        return cleaned
    digest = hashlib.sha256(username.encode()).hexdigest()[:8]
    return f"{cleaned[: max_length - 9].rstrip('-')}-{digest}"


def user_namespace(username: str, prefix: str = NAMESPACE_PREFIX) -> str:
    return f"{prefix}{safe_name(username, 63 - len(prefix))}"
