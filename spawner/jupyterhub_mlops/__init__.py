"""jupyterhub_mlops: the hub side of jupyterhub-mlops.

``GPUKubeSpawner`` (a KubeSpawner for shared GPU clusters), the GPU inventory,
the availability API and the SSH gateway. Never imports ``jupyter_mlops``:
the two sides talk over HTTP, as they do across pods.
"""

__version__ = "0.1.0"
