"""What the jobs API is told about where it runs, read from the environment in one place.

The notebook server builds ``JobsSettings`` from its ``MlopsJobs`` traits
(over this same environment reading, ``config.MlopsJobs.settings``); the
kernel, which has no jupyter-server config, from the environment alone
(``JobsSettings.from_environment``, called once by ``default_client``).
Nothing below reads the environment again: the client takes the settings,
and the manifest builders take ``NotebookPod``, the part of them that job
pods inherit from the notebook.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace

from mlops_contract.labels import OWNER_LABEL
from mlops_contract.placement import default_gpu_tolerations

ENVIRONMENT = {
    "kubeconfig": "MLOPS_KUBECONFIG",
    "kube_server": "MLOPS_KUBE_SERVER",
    "kube_token_file": "MLOPS_KUBE_TOKEN_FILE",
    "kube_ca_file": "MLOPS_KUBE_CA_FILE",
    "namespace": "MLOPS_NAMESPACE",
    "availability_url": "MLOPS_AVAILABILITY_URL",
    "hub_api_token": "JUPYTERHUB_API_TOKEN",
    "argo_server_url": "MLOPS_ARGO_SERVER",
    "argo_server_ca_file": "MLOPS_ARGO_SERVER_CA_FILE",
    "shared_volume_claim": "MLOPS_SHARED_VOLUME_CLAIM",
    "shared_volume_path": "MLOPS_SHARED_VOLUME_PATH",
    "owner_label": "MLOPS_OWNER_LABEL",
    "gpu_tolerations": "MLOPS_GPU_TOLERATIONS",
    "workflow_service_account": "MLOPS_WORKFLOW_SERVICE_ACCOUNT",
    "kueue_queue": "MLOPS_KUEUE_QUEUE",
    "pod_api_host": "KUBERNETES_SERVICE_HOST",
    "pod_api_port": "KUBERNETES_SERVICE_PORT",
}
"""Each setting's environment variable (KubeSpawner, GPUKubeSpawner or the kubelet set them in a pod)."""
IMAGE_VARIABLES = ("JUPYTER_IMAGE_SPEC", "JUPYTER_IMAGE")
"""Where KubeSpawner tells the notebook its own image, first one set wins."""


@dataclass(frozen=True)
class NotebookPod:
    """What a job's pods inherit from the notebook that submits them (empty: nothing)."""

    image: str | None = None
    """The notebook's image: the default of a job that names none."""
    owner_labels: dict[str, str] = field(default_factory=dict)
    """The owner label of the notebook's pod, on every job pod: the hub's availability
    service then counts the GPUs the user's jobs hold against their cap."""
    workflow_service_account: str | None = None
    """The account workflow steps run as unless the workflow names its own (None:
    Argo's default)."""
    gpu_tolerations: list[dict] = field(default_factory=default_gpu_tolerations)
    """Tolerations of job pods that ask for GPUs: the hub's ``GpuProfiles.gpu_tolerations``,
    so job pods go where the hub counts GPUs as free (the contract's default otherwise)."""
    kueue_queue: str | None = None
    """The namespace's Kueue LocalQueue for jobs (set when the hub queues GPUs with
    Kueue): GPU jobs, workflow steps and sweep trials carry it and wait in line."""


@dataclass(frozen=True)
class JobsSettings:
    """Every field is a string, empty when not set (see ``ENVIRONMENT`` for its variable)."""

    kubeconfig: str = ""
    kube_server: str = ""
    kube_token_file: str = ""
    kube_ca_file: str = ""
    namespace: str = ""
    availability_url: str = ""
    hub_api_token: str = ""
    argo_server_url: str = ""
    argo_server_ca_file: str = ""
    shared_volume_claim: str = ""
    shared_volume_path: str = ""
    owner_label: str = ""
    """``key=value``, as GPUKubeSpawner sets it."""
    gpu_tolerations: str = ""
    """The hub's ``GpuProfiles.gpu_tolerations`` as a JSON list, as GPUKubeSpawner sets it."""
    workflow_service_account: str = ""
    kueue_queue: str = ""
    pod_api_host: str = ""
    pod_api_port: str = ""
    notebook_image: str = ""

    @classmethod
    def from_environment(cls, environ: dict | None = None) -> JobsSettings:
        env = os.environ if environ is None else environ
        values = {name: env.get(variable) or "" for name, variable in ENVIRONMENT.items()}
        image = next((env[v] for v in IMAGE_VARIABLES if env.get(v)), "")
        return cls(**values, notebook_image=image)

    def overridden(self, **values: str) -> JobsSettings:
        """A copy with the non-empty ``values`` in place of these."""
        return replace(self, **{name: value for name, value in values.items() if value})

    def notebook_pod(self) -> NotebookPod:
        # The key is the contract's; only the value, which only the hub knows, is read
        # (the hub still sends ``key=value`` for notebook images of earlier releases).
        _, sep, value = self.owner_label.partition("=")
        return NotebookPod(
            image=self.notebook_image or None,
            owner_labels={OWNER_LABEL: value} if sep and value else {},
            workflow_service_account=self.workflow_service_account or None,
            gpu_tolerations=(json.loads(self.gpu_tolerations) if self.gpu_tolerations else default_gpu_tolerations()),
            kueue_queue=self.kueue_queue or None,
        )
