"""What GPUKubeSpawner puts on a notebook pod, built by the real KubeSpawner: the owner
label every side agrees on (so the SSH gateway finds the pod through the API server),
the tolerations of GpuProfiles.gpu_tolerations, and a clear word on settings it ignores.

The spawner only needs the API server to exist here (KubeSpawner loads its client
config when built); the gateway's lookup goes through the real API server."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import kubernetes
import pytest
from jupyter_mlops.jobs import podspec
from jupyter_mlops.jobs.settings import JobsSettings
from jupyterhub_mlops.provisioning import namespace_manifest
from jupyterhub_mlops.ssh.names import Target
from jupyterhub_mlops.ssh.routing import PodLocator
from mlops_contract.labels import OWNER_LABEL, label_value
from mlops_contract.placement import GPU_TOLERATION
from traitlets.config import Config

from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

POOL = {"key": "example.org/gpu-pool", "operator": "Exists", "effect": "NoSchedule"}
CPU_PROFILE = {"cpu_milli": 1000, "memory_bytes": 2**30, "gpus": 0, "image": "", "tolerations": []}


@pytest.fixture
def spawner_for(control_plane, monkeypatch):
    """``spawner_for(user, config)``: a GPUKubeSpawner as the hub builds one (call it
    inside the event loop: KubeSpawner makes its API client there)."""
    from jupyterhub_mlops.spawner import GPUKubeSpawner
    from kubernetes_asyncio.config import kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(control_plane.kubeconfig("hub")))
    hub = SimpleNamespace(
        public_host="", url="http://hub:8081/hub/", base_url="/hub/", api_url="http://hub:8081/hub/api"
    )

    def make(name: str, config: Config | None = None, namespace: str = "jhub") -> GPUKubeSpawner:
        c = config or Config()
        c.KubeSpawner.namespace = namespace
        c.KubeSpawner.image = "quay.io/jupyter/base-notebook:latest"
        user = SimpleNamespace(name=name, id=1, url=f"/user/{name}/", groups=[], spawners={})
        return GPUKubeSpawner(config=c, user=user, hub=hub)

    return make


@pytest.mark.parametrize("user", ["alice.smith", "Alice", "carol@example.org"])
async def test_the_pod_the_namespace_and_the_jobs_agree_and_the_gateway_finds_the_pod(
    spawner_for, control_plane, namespace, core_v1, user
):
    spawner = spawner_for(user, namespace=namespace)
    pod = kubernetes.client.ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    labels = pod["metadata"]["labels"]
    assert labels[OWNER_LABEL] == label_value(user) == labels["hub.jupyter.org/username"]
    assert namespace_manifest("ns", user)["metadata"]["labels"][OWNER_LABEL] == labels[OWNER_LABEL]
    assert {p["metadata"]["labels"][OWNER_LABEL] for p in spawner.network_policies()} == {labels[OWNER_LABEL]}
    # Job pods: what the notebook's jobs API reads from the environment the spawner gives it.
    notebook = JobsSettings.from_environment(spawner.get_env()).notebook_pod()
    assert podspec.pod_metadata(notebook)["labels"] == {OWNER_LABEL: labels[OWNER_LABEL]}

    core_v1.create_namespaced_pod(namespace, pod)
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio import config as k8s_config

    api = await k8s_config.new_client_from_config(str(control_plane.kubeconfig("hub")))
    try:
        locator = PodLocator(k8s.CoreV1Api(api), namespace=namespace)

        def running():
            status = core_v1.read_namespaced_pod(pod["metadata"]["name"], namespace).status
            return status.phase == "Running" and status.pod_ip

        wait_for(running, timeout=60, what=f"{user}'s pod running")
        found = await locator.locate(Target(user))
        assert (found.name, found.namespace) == (pod["metadata"]["name"], namespace)
    finally:
        await api.close()


async def test_notebook_and_job_pods_tolerate_where_the_gpus_are_counted(spawner_for):
    default = spawner_for("alice").profile_overrides(CPU_PROFILE, {}, "nvidia.com/gpu")
    assert default["tolerations"] == [GPU_TOLERATION]
    for section in ("GpuProfiles", "GPUKubeSpawner"):  # the former name still works
        c = Config()
        c[section].gpu_tolerations = [POOL]
        spawner = spawner_for("alice", c)
        assert spawner.profile_overrides(CPU_PROFILE, {}, "nvidia.com/gpu")["tolerations"] == [POOL]
        # The notebook's jobs read what the spawner tells the notebook server.
        notebook = JobsSettings.from_environment(spawner.get_env()).notebook_pod()
        assert podspec.pod_spec([], gpus=1, gpu_type=None, notebook=notebook)["tolerations"] == [POOL]


async def test_user_namespace_template_is_reported_as_having_no_effect(spawner_for, caplog):
    c = Config()
    c.GPUKubeSpawner.provision_user_namespaces = True
    c.GPUKubeSpawner.enable_user_namespaces = True
    c.KubeSpawner.user_namespace_template = "lab-{username}"
    with caplog.at_level(logging.WARNING):
        spawner = spawner_for("alice", c)
    assert spawner.namespace == "mlops-alice"
    assert "user_namespace_template is ignored" in caplog.text
    assert "mlops-alice" in caplog.text
    # Without it, or without provisioning (KubeSpawner then uses it), nothing to say.
    del c.KubeSpawner["user_namespace_template"]
    assert spawner_for("alice", c).ignored_settings() == []
    plain = Config()
    plain.KubeSpawner.enable_user_namespaces = True
    plain.KubeSpawner.user_namespace_template = "lab-{username}"
    spawner = spawner_for("alice", plain)
    assert (spawner.namespace, spawner.ignored_settings()) == ("lab-alice", [])
