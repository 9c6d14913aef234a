"""The local Kubernetes control plane used by the demo and the tests.

A real etcd, kube-apiserver (RBAC on), kube-controller-manager and
kube-scheduler, with KWOK simulating the kubelets of a GPU fleet. See
``ControlPlane`` for the Python API; ``mlops-cluster up|down|status`` for the CLI.
"""

from .controlplane import ControlPlane, ControlPlaneError
from .identities import IDENTITIES, Identity

__all__ = ["ControlPlane", "ControlPlaneError", "IDENTITIES", "Identity"]
