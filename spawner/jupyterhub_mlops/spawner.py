"""GPUKubeSpawner: KubeSpawner for a cluster of shared GPU servers."""

from __future__ import annotations

from kubernetes_asyncio.client.models import V1Toleration
from kubespawner import KubeSpawner
from traitlets import Dict, List, Unicode

OWNER_LABEL = "jupyterhub-mlops/user"


class GPUKubeSpawner(KubeSpawner):
    """A KubeSpawner whose pods may run on the GPU nodes of the cluster.

    GPU nodes are usually tainted (``nvidia.com/gpu=present:NoSchedule``) so
    that only pods that asked for GPUs land there; this spawner adds the
    matching tolerations and labels every pod with its owner, which the SSH
    gateway and the GPU inventory use to find a user's server.
    """

    gpu_tolerations = List(
        Dict(),
        default_value=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        help="""
        Tolerations added to every notebook pod so that it may be scheduled on
        tainted GPU nodes. Match the taints your GPU nodes carry (the NVIDIA GPU
        Operator's convention is ``nvidia.com/gpu=present:NoSchedule``). Set to
        an empty list if your GPU nodes are not tainted.
        """,
    ).tag(config=True)

    owner_label = Unicode(
        OWNER_LABEL,
        help="""
        Label key set on every notebook pod with the (escaped) JupyterHub user
        name as value. The SSH gateway finds a user's server by this label.
        """,
    ).tag(config=True)

    async def get_pod_manifest(self):
        pod = await super().get_pod_manifest()
        labels = dict(pod.metadata.labels or {})
        labels[self.owner_label] = self._expand_user_properties("{username}")
        pod.metadata.labels = labels
        existing = list(pod.spec.tolerations or [])
        known = {(t.key, t.effect) for t in existing}
        for tol in self.gpu_tolerations:
            if (tol.get("key"), tol.get("effect")) not in known:
                existing.append(V1Toleration(**tol))
        pod.spec.tolerations = existing
        return pod
