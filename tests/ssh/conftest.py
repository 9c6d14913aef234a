"""The SSH tests' fixtures live in ssh_harness.py (importable by benchmarks too)."""

from tests.ssh.ssh_harness import clients, gateway, hub, ssh_namespace, user_namespaces, users  # noqa: F401
