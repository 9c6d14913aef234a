"""jupyter_mlops: the notebook side of jupyterhub-mlops.

A jupyter-server extension serving the suite's REST API under
``{base_url}/mlops/api/v1/`` and the JupyterLab sidebar that talks to it.
"""

from ._version import __version__


def _jupyter_server_extension_points():
    return [{"module": "jupyter_mlops.extension"}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyter-mlops"}]


__all__ = ["__version__"]
