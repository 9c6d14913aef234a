"""``make demo``: the whole suite on the local cluster, clickable.

``python -m demo`` (from the repository root) starts, in order: the local
Kubernetes control plane (``cluster/``), the development pod runner that runs
notebook pods as local processes on their pod IPs, a few pods of other users
holding GPUs, configurable-http-proxy and JupyterHub configured with the
suite's GPUKubeSpawner (``demo/jupyterhub_config.py``). Every process is a
child that dies with the demo; Ctrl-C stops them all in reverse order.
"""
