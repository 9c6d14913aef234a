"""Prometheus metrics of the SSH gateway (names shared across the suite)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SESSIONS = Gauge(
    "jupyterhub_mlops_ssh_sessions",
    "Authenticated SSH connections currently open through the gateway.",
)
LOGINS = Counter(
    "jupyterhub_mlops_ssh_logins_total",
    "SSH login attempts by method (publickey, token, none) and outcome.",
    ["method", "outcome"],
)
CHANNELS = Counter(
    "jupyterhub_mlops_ssh_channels_total",
    "SSH channels opened or refused, by kind (shell, exec, sftp, forward, proxyjump, refused).",
    ["kind"],
)
