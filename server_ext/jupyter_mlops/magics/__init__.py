"""``%mlops`` magics: cells to PyTorchJobs, Katib sweeps and Hera workflows, and jobs by name.

Load with ``%load_ext jupyter_mlops``; ``%mlops?`` documents every subcommand.
Built on the jobs Python API (``jupyter_mlops.jobs``); nothing here talks to
Kubernetes on its own. IPython is imported only when the extension loads, so
``jupyter_mlops.report`` stays cheap inside a sweep's trial.
"""

from __future__ import annotations


def load_ipython_extension(ipython) -> None:
    from .magic import MlopsMagics

    ipython.register_magics(MlopsMagics(shell=ipython))


__all__ = ["load_ipython_extension"]
