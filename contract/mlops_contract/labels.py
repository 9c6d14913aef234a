"""The labels that tie Kubernetes objects to a JupyterHub user, and their values.

``OWNER_LABEL`` is on everything the suite creates for a user: the objects of
their namespace (hub side, at provisioning), their notebook pods (the spawner)
and the pods of the jobs their notebook submits (notebook side). The hub's
availability service counts a user's GPUs by it against their caps, so every
side must write the very same value for a user: ``label_value``.

``label_value`` is also the value KubeSpawner itself writes in the
``hub.jupyter.org/username`` and ``hub.jupyter.org/servername`` labels, which
the SSH gateway selects a server's pod by (and the key store its Secrets):
one slug for every user label, so a name like ``Alice``, ``alice.smith`` or
``carol@example.org`` means the same objects everywhere. Pure and stdlib-only.
"""

from __future__ import annotations

import hashlib
import re

OWNER_LABEL = "jupyterhub-mlops/user"
"""Key of the label naming the JupyterHub user an object belongs to."""

KUBESPAWNER_USER_LABEL = "hub.jupyter.org/username"
KUBESPAWNER_SERVER_LABEL = "hub.jupyter.org/servername"
"""The labels KubeSpawner puts on a server's pod (values: ``label_value``)."""

_VALID = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
"""A Kubernetes label value (ASCII only: ``re`` would let ``[a-z]`` match
non-ASCII letters under IGNORECASE, which the API server refuses)."""

_HASH_CHARS = 8
_STEM_CHARS = 21
"""A hashed value is ``<stem>---<hash>``: at most 21 + 3 + 8 = 32 characters,
the length KubeSpawner gives its hashed label values."""


def label_value(name: str) -> str:
    """The label value for a user or server name ("" stays "").

    A name that is already a valid label value is kept as it is (``Alice``,
    ``alice.smith``). Any other name, and any name holding ``--`` (so that no
    kept name can look like a hashed one), becomes a readable lowercase stem
    and a hash of the whole name: ``carol@example.org`` ->
    ``carol-example-org---<8 hex>``. Distinct names never share a value.
    """
    if "--" not in name and (not name or _VALID.fullmatch(name)):
        return name
    digest = hashlib.sha256(name.encode("utf8")).hexdigest()[:_HASH_CHARS]
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).lstrip("-")[:_STEM_CHARS].rstrip("-")
    if stem and not "a" <= stem[0] <= "z":
        stem = "x-" + stem[: _STEM_CHARS - 2]
    return f"{stem or 'x'}---{digest}"


def owner_labels(username: str) -> dict[str, str]:
    """``{OWNER_LABEL: <value>}`` for the objects that belong to ``username``."""
    return {OWNER_LABEL: label_value(username)}
