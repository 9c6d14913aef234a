"""The static identities the local API server knows, and their kubeconfigs.

Static bearer tokens keep the setup small; the RBAC authorizer still decides
everything each identity may do, so isolation tests exercise the real thing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Identity:
    name: str
    groups: tuple[str, ...]
    purpose: str


IDENTITIES: dict[str, Identity] = {
    i.name: i
    for i in (
        Identity("admin", ("system:masters",), "cluster administrator; control-plane components"),
        Identity("hub", ("mlops:hub",), "the JupyterHub pod (spawner, inventory, SSH gateway)"),
        Identity("alice", ("mlops:researchers",), "a researcher, for isolation tests"),
        Identity("bob", ("mlops:researchers",), "another researcher, for isolation tests"),
    )
}


def write_token_file(path: Path) -> dict[str, str]:
    """Write the API server's ``--token-auth-file``; return name -> token.

    Tokens are reused when the file exists, so kubeconfigs handed out earlier
    keep working across restarts of the same cluster.
    """
    tokens: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            token, user, *_ = line.split(",")
            tokens[user] = token
    for name in IDENTITIES:
        tokens.setdefault(name, secrets.token_urlsafe(32))
    lines = []
    for name, ident in IDENTITIES.items():
        groups = ",".join(ident.groups)
        lines.append(f'{tokens[name]},{name},{name},"{groups}"')
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return tokens


def kubeconfig(server: str, ca_file: Path, user: str, token: str) -> dict:
    """A kubeconfig (as a dict) for one identity."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "mlops-local", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "mlops-local", "user": user}}],
        "current-context": user,
    }


def write_kubeconfig(path: Path, server: str, ca_file: Path, user: str, token: str) -> Path:
    path.write_text(yaml.safe_dump(kubeconfig(server, ca_file, user, token), sort_keys=False))
    path.chmod(0o600)
    return path
