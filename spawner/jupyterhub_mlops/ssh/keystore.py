"""Public keys users register for SSH, stored durably.

``FileKeyStore`` keeps every user's keys in one JSON file (development);
``ConfigMapKeyStore`` keeps one ConfigMap per user (a cluster), in the
gateway's own namespace. The gateway hands a user's keys to their pod's sshd
itself, before each ``ssh -J`` (``authorized_keys_text``; see ``pod_side``).
"""

from __future__ import annotations

import abc
import asyncio
import datetime
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncssh
from mlops_contract.labels import KUBESPAWNER_USER_LABEL, label_value

#: Label selecting the gateway's key ConfigMaps.
KEYS_COMPONENT = "ssh-keys"
MAX_KEYS_PER_USER = 50
ALLOWED_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
MIN_RSA_BITS = 2048


class KeyRegistrationError(ValueError):
    """A key that cannot be registered; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RegisteredKey:
    fingerprint: str
    key: str
    """The public key in OpenSSH one-line form, with its comment."""
    comment: str
    added: str

    def matches(self, key: asyncssh.SSHKey) -> bool:
        return self.fingerprint == key.get_fingerprint("sha256")


def parse_public_key(text: str) -> RegisteredKey:
    """Validate one OpenSSH public key line; raise ``KeyRegistrationError(400)`` with a reason."""
    line = (text or "").strip()
    if not line or "\n" in line or len(line) > 16384:
        raise KeyRegistrationError(400, "send exactly one public key line, as in ~/.ssh/id_ed25519.pub")
    if "PRIVATE KEY" in line:
        raise KeyRegistrationError(400, "this is a private key: send the .pub file, never the private key")
    try:
        key = asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise KeyRegistrationError(400, f"not an OpenSSH public key ({exc})") from None
    algorithm = key.get_algorithm()
    if algorithm not in ALLOWED_KEY_TYPES:
        raise KeyRegistrationError(
            400, f"key type {algorithm} is not accepted; use one of: {', '.join(ALLOWED_KEY_TYPES)}"
        )
    if algorithm == "ssh-rsa" and key.pyca_key.key_size < MIN_RSA_BITS:  # type: ignore[union-attr]  # an RSA key
        raise KeyRegistrationError(400, f"RSA keys need at least {MIN_RSA_BITS} bits")
    comment = (key.get_comment() or "")[:200]
    key.set_comment(comment or None)
    return RegisteredKey(
        fingerprint=key.get_fingerprint("sha256"),
        key=key.export_public_key().decode().strip(),
        comment=comment,
        added=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def authorized_keys_text(keys: list[RegisteredKey]) -> str:
    """An OpenSSH authorized_keys file for ``keys``, restricted for a notebook pod."""
    return "".join(f"restrict,pty,port-forwarding {k.key}\n" for k in keys)


def _added(existing: list[RegisteredKey], new: RegisteredKey) -> list[RegisteredKey]:
    if any(k.fingerprint == new.fingerprint for k in existing):
        raise KeyRegistrationError(409, f"key {new.fingerprint} is already registered to your account")
    if len(existing) >= MAX_KEYS_PER_USER:
        raise KeyRegistrationError(409, f"you already have {MAX_KEYS_PER_USER} keys: delete one first")
    return [*existing, new]


class KeyStore(abc.ABC):
    """What both stores offer. Methods are coroutines; user names are JupyterHub names."""

    @abc.abstractmethod
    async def list(self, user: str) -> list[RegisteredKey]:
        """``user``'s keys, oldest first (empty if none)."""

    @abc.abstractmethod
    async def add(self, user: str, key_text: str) -> RegisteredKey:
        """Register one key; raises ``KeyRegistrationError`` (400 bad key, 409 duplicate)."""

    @abc.abstractmethod
    async def remove(self, user: str, fingerprint: str) -> None:
        """Remove one key; raises ``KeyRegistrationError(404)`` if ``user`` has no such key."""

    async def owns(self, user: str, key: asyncssh.SSHKey) -> bool:
        """Whether ``key`` is registered to ``user``."""
        return any(k.matches(key) for k in await self.list(user))


class FileKeyStore(KeyStore):
    """All users' keys in one JSON file, rewritten atomically on each change."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = asyncio.Lock()

    def _read(self) -> dict[str, list[dict]]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    async def list(self, user: str) -> list[RegisteredKey]:
        return [RegisteredKey(**k) for k in self._read().get(user, [])]

    async def add(self, user: str, key_text: str) -> RegisteredKey:
        new = parse_public_key(key_text)
        async with self._lock:
            data = self._read()
            keys = _added([RegisteredKey(**k) for k in data.get(user, [])], new)
            data[user] = [asdict(k) for k in keys]
            self._write(data)
        return new

    async def remove(self, user: str, fingerprint: str) -> None:
        async with self._lock:
            data = self._read()
            keys = data.get(user, [])
            kept = [k for k in keys if k["fingerprint"] != fingerprint]
            if len(kept) == len(keys):
                raise KeyRegistrationError(404, f"no key {fingerprint} is registered to your account")
            data[user] = kept
            self._write(data)


def configmap_name(user: str) -> str:
    """Name of ``user``'s key ConfigMap (a DNS label, collision-safe like KubeSpawner's)."""
    return f"ssh-keys-{label_value(user)}"


def keys_configmap(user: str, keys: list[RegisteredKey]) -> dict:
    """The ConfigMap holding ``user``'s keys (pure)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(user),
            "labels": {"app.kubernetes.io/component": KEYS_COMPONENT, KUBESPAWNER_USER_LABEL: label_value(user)},
            "annotations": {KUBESPAWNER_USER_LABEL: user},
        },
        "data": {"keys.json": json.dumps([asdict(k) for k in keys], indent=1)},
    }


class ConfigMapKeyStore(KeyStore):
    """One ConfigMap per user in ``namespace``; writes use resourceVersion (409 → retry)."""

    def __init__(self, core_v1, namespace: str, timeout: float = 10):
        self.core_v1 = core_v1
        self.namespace = namespace
        self.timeout = timeout

    async def _read(self, user: str):
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            cm = await self.core_v1.read_namespaced_config_map(
                configmap_name(user), self.namespace, _request_timeout=self.timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None, []
            raise
        # A slug collision is impossible by construction, but never trust a
        # ConfigMap that names somebody else.
        if (cm.metadata.annotations or {}).get("hub.jupyter.org/username") != user:
            return None, []
        return cm, [RegisteredKey(**k) for k in json.loads((cm.data or {}).get("keys.json", "[]"))]

    async def list(self, user: str) -> list[RegisteredKey]:
        return (await self._read(user))[1]

    async def _store(self, user: str, change) -> None:
        from kubernetes_asyncio.client.exceptions import ApiException

        for _attempt in range(5):
            cm, keys = await self._read(user)
            body = keys_configmap(user, change(keys))
            try:
                if cm is None:
                    await self.core_v1.create_namespaced_config_map(self.namespace, body, _request_timeout=self.timeout)
                else:
                    body["metadata"]["resourceVersion"] = cm.metadata.resource_version
                    await self.core_v1.replace_namespaced_config_map(
                        cm.metadata.name, self.namespace, body, _request_timeout=self.timeout
                    )
                return
            except ApiException as exc:
                if exc.status != 409:  # 409: someone wrote in between; read again
                    raise
        raise KeyRegistrationError(503, "your keys changed concurrently too often; try again")

    async def add(self, user: str, key_text: str) -> RegisteredKey:
        new = parse_public_key(key_text)
        await self._store(user, lambda keys: _added(keys, new))
        return new

    async def remove(self, user: str, fingerprint: str) -> None:
        def without(keys):
            kept = [k for k in keys if k.fingerprint != fingerprint]
            if len(kept) == len(keys):
                raise KeyRegistrationError(404, f"no key {fingerprint} is registered to your account")
            return kept

        await self._store(user, without)
