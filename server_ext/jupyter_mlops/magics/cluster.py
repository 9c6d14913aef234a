"""``%mlops gpus`` (the cluster's free GPUs) and ``%mlops ssh`` (how to reach this server)."""

from __future__ import annotations

import os
from html import escape
from urllib.parse import urlparse

from IPython.core.magic_arguments import magic_arguments
from IPython.display import display

from ..jobs import ClusterUnreachable
from . import render
from .commands import subcommand
from .parsing import MagicInputError

DEFAULT_SSH_PORT = 2222
"""Where the hub's SSH gateway listens unless the operator says otherwise."""


class GpuTable:
    """The hub's availability snapshot as a table (HTML and text)."""

    def __init__(self, snapshot: dict):
        self.snapshot = snapshot

    def _repr_html_(self) -> str:
        return render.gpus_html(self.snapshot)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(render.gpus_text(self.snapshot))


@subcommand("gpus", example="%mlops gpus")
@magic_arguments("mlops gpus")
def gpus(magics, args, cell):
    """Show the cluster's GPUs by type: free now, total, held, largest free on one node."""
    availability = magics.client.availability
    if availability is None:
        raise ClusterUnreachable(
            "The hub's GPU availability API is not configured for this "
            "server (MLOPS_AVAILABILITY_URL); ask your operator."
        )
    display(GpuTable(availability.snapshot()))


def ssh_instructions(user: str, host: str, port: int, server: str = "") -> dict:
    """The command and ``~/.ssh/config`` entry for reaching ``user``'s server (pure)."""
    login = f"{user}.{server}" if server else user
    alias = f"jupyterhub-{login}"
    config = (
        f"Host {alias}\n    HostName {host}\n    Port {port}\n    User {login}\n"
        "    ServerAliveInterval 30"
    )
    return {"command": f"ssh -p {port} {login}@{host}", "alias": alias, "config": config}


class SshHelp:
    def __init__(self, instructions: dict):
        self.instructions = instructions

    def _repr_html_(self) -> str:
        i = self.instructions
        return (
            f"<p><b>SSH into this server</b></p><pre>{escape(i['command'])}</pre>"
            f"<p>or add to <code>~/.ssh/config</code> and run "
            f"<code>ssh {escape(i['alias'])}</code> (also for VS Code Remote-SSH):</p>"
            f"<pre>{escape(i['config'])}</pre><p>Log in with a public key registered in "
            "JupyterHub, or with a JupyterHub API token as the password.</p>"
        )

    def _repr_pretty_(self, printer, cycle) -> None:
        i = self.instructions
        printer.text(
            f"SSH into this server:\n  {i['command']}\n\nor add to ~/.ssh/config "
            f"and run `ssh {i['alias']}`:\n{i['config']}\n\nLog in with a public key "
            "registered in JupyterHub, or with a JupyterHub API token as the password."
        )


@subcommand("ssh", example="%mlops ssh")
@magic_arguments("mlops ssh")
def ssh(magics, args, cell):
    """How to connect to this notebook server over SSH (through the hub's SSH gateway)."""
    user = os.environ.get("JUPYTERHUB_USER")
    if not user:
        raise MagicInputError(
            "%mlops ssh: this kernel is not in a JupyterHub server (JUPYTERHUB_USER is not set)."
        )
    host = (
        magics.ssh_host
        or os.environ.get("MLOPS_SSH_HOST")
        or urlparse(
            os.environ.get("JUPYTERHUB_PUBLIC_URL")
            or os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL")
            or ""
        ).hostname
    )
    if not host:
        raise MagicInputError(
            "%mlops ssh: the hub's host name is unknown; set MLOPS_SSH_HOST "
            "(or c.MlopsMagics.ssh_host)."
        )
    port = magics.ssh_port or int(os.environ.get("MLOPS_SSH_PORT") or DEFAULT_SSH_PORT)
    display(
        SshHelp(ssh_instructions(user, host, port, os.environ.get("JUPYTERHUB_SERVER_NAME", "")))
    )
