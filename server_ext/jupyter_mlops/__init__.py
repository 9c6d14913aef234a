"""jupyter_mlops: the notebook side of jupyterhub-mlops.

A jupyter-server extension serving the suite's REST API under
``{base_url}/mlops/api/v1/``, the JupyterLab sidebar that talks to it, the
jobs Python API (``jupyter_mlops.jobs``) and the ``%mlops`` magics
(``%load_ext jupyter_mlops``).
"""

from ._version import __version__
from .magics.report import report


def _jupyter_server_extension_points():
    return [{"module": "jupyter_mlops.extension"}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyter-mlops"}]


def load_ipython_extension(ipython):
    """``%load_ext jupyter_mlops``: register the ``%mlops`` magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


__all__ = ["__version__", "load_ipython_extension", "report"]
