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

import os
from dataclasses import dataclass, field, replace

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
    "workflow_service_account": "MLOPS_WORKFLOW_SERVICE_ACCOUNT",
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
    workflow_service_account: str = ""
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
        key, sep, value = self.owner_label.partition("=")
        return NotebookPod(
            image=self.notebook_image or None,
            owner_labels={key: value} if sep and key else {},
            workflow_service_account=self.workflow_service_account or None,
        )
