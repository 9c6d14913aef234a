"""``%mlops gpus`` (the cluster's free GPUs) and ``%mlops ssh`` (how to reach this server)."""

from __future__ import annotations

import os
from html import escape

from IPython.core.magic_arguments import magic_arguments
from IPython.display import display
from mlops_contract.ssh import connection_help

from ..jobs import ClusterUnreachable
from ..ssh_gateway import gateway_address
from . import render
from .commands import subcommand
from .parsing import MagicInputError


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


class SshHelp:
    def __init__(self, instructions: dict):
        self.instructions = instructions

    def _repr_html_(self) -> str:
        i = self.instructions
        return (
            f"<p><b>SSH into this server</b></p><pre>{escape(i['command'])}</pre>"
            f"<p>or add to <code>~/.ssh/config</code> and run "
            f"<code>ssh {escape(i['host_alias'])}</code> (also for VS Code Remote-SSH):</p>"
            f"<pre>{escape(i['config'])}</pre><p>Log in with a public key registered in "
            "JupyterHub, or with a JupyterHub API token as the password.</p>"
        )

    def _repr_pretty_(self, printer, cycle) -> None:
        i = self.instructions
        printer.text(
            f"SSH into this server:\n  {i['command']}\n\nor add to ~/.ssh/config "
            f"and run `ssh {i['host_alias']}`:\n{i['config']}\nLog in with a public key "
            "registered in JupyterHub, or with a JupyterHub API token as the password."
        )


@subcommand("ssh", example="%mlops ssh")
@magic_arguments("mlops ssh")
def ssh(magics, args, cell):
    """How to connect to this notebook server over SSH (through the hub's SSH gateway)."""
    user = os.environ.get("JUPYTERHUB_USER")
    if not user:
        raise MagicInputError("%mlops ssh: this kernel is not in a JupyterHub server (JUPYTERHUB_USER is not set).")
    host, port = gateway_address(magics.ssh_host, magics.ssh_port)
    if not host:
        raise MagicInputError(
            "%mlops ssh: the hub's host name is unknown; set MLOPS_SSH_HOST (or c.MlopsMagics.ssh_host)."
        )
    server = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
    display(SshHelp(connection_help(user, server, host, port)))
