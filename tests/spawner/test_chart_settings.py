"""What GPUKubeSpawner must take from Zero-to-JupyterHub's jupyterhub_config.py, and the
per-user NetworkPolicies it creates (pure functions, then the real API server).

The chart itself, rendered and run, is tested in tests/deploy/test_deploy_chart.py.
"""

from __future__ import annotations

import uuid

import kubernetes
import pytest
from jupyterhub_mlops.hub_pod import (
    give_services_the_pod_environment,
    hub_api_url,
    notebook_environment,
)
from jupyterhub_mlops.network_policies import user_namespace_policies
from jupyterhub_mlops.profiles import GpuProfiles, profile_from_config
from jupyterhub_mlops.provisioning import ensure_user_namespace
from jupyterhub_mlops.spawner import as_list, profile_overrides
from traitlets.config import Config

# KubeSpawner.volumes and volume_mounts as the chart's jupyterhub_config.py sets them
# with singleuser.storage.type: dynamic.
CHART_VOLUMES = {
    "volume-{user_server}": {"name": "volume-{user_server}", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
}
CHART_MOUNTS = {"volume-{user_server}": {"mountPath": "/home/jovyan", "name": "volume-{user_server}", "subPath": None}}
PROFILE = {"cpu_milli": 4000, "memory_bytes": 8 * 2**30, "gpus": 1, "image": "", "tolerations": []}


def base(**overrides) -> dict:
    return {
        "image": "registry.example.org/singleuser:1",
        "tolerations": [],
        "node_selector": {},
        "volumes": [],
        "volume_mounts": [],
        "extra_resource_limits": {},
        "extra_resource_guarantees": {},
        **overrides,
    }


def test_dict_volumes_become_the_list_kubespawner_builds():
    assert as_list(CHART_VOLUMES) == list(CHART_VOLUMES.values())
    assert as_list({"b": {"name": "b"}, "a": {"name": "a"}}) == [{"name": "a"}, {"name": "b"}]
    overrides = profile_overrides(
        PROFILE,
        {},
        "nvidia.com/gpu",
        shm_size="",
        base=base(volumes=as_list(CHART_VOLUMES), volume_mounts=as_list(CHART_MOUNTS)),
    )
    assert [v["name"] for v in overrides["volumes"]] == ["volume-{user_server}", "dshm"]
    assert [m["mountPath"] for m in overrides["volume_mounts"]] == ["/home/jovyan", "/dev/shm"]


def test_a_profile_without_an_image_uses_the_singleuser_image():
    profile = profile_from_config(
        {"slug": "a", "display_name": "A", "gpus": 1, "gpu_type": "NVIDIA-A100-SXM4-80GB"},
        GpuProfiles().default_image,
        [],
    )
    overrides = profile_overrides(profile.to_json(), {}, "nvidia.com/gpu", shm_size="", base=base())
    assert overrides["image"] == "registry.example.org/singleuser:1"


def test_services_get_the_pod_environment_but_not_the_proxy_token():
    c = Config()
    c.JupyterHub.hub_bind_url = "http://:8081"
    c.JupyterHub.services = [{"name": "ssh", "environment": {"X": "1"}}, {"name": "other"}]
    environ = {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "PROXY_API_SERVICE_PORT": "8001",
        "HUB_SERVICE_PORT_HUB": "8081",
        "POD_NAMESPACE": "jhub",
        "CONFIGPROXY_AUTH_TOKEN": "secret",
        "HOME": "/home",
    }
    give_services_the_pod_environment(c, ["ssh"], environ)
    ssh, other = c.JupyterHub.services
    assert ssh["environment"] == {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "PROXY_API_SERVICE_PORT": "8001",
        "HUB_SERVICE_PORT_HUB": "8081",
        "POD_NAMESPACE": "jhub",
        "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
        "X": "1",
    }
    assert "environment" not in other
    with pytest.raises(ValueError, match="gpu-availability"):
        give_services_the_pod_environment(c, ["gpu-availability"], environ)


@pytest.mark.parametrize(
    ("bind", "base_url", "expected"),
    [
        ("http://:8081", "/", "http://127.0.0.1:8081/hub/api"),
        ("http://0.0.0.0:8081", "/jh/", "http://127.0.0.1:8081/jh/hub/api"),
        ("http://10.1.2.3:9000", "/", "http://10.1.2.3:9000/hub/api"),
    ],
)
def test_the_hub_api_url_inside_the_pod(bind, base_url, expected):
    assert hub_api_url(bind, base_url) == expected


def test_notebook_environment_names_the_services_at_the_public_url():
    assert notebook_environment("https://hub.example.org/", "hub.example.org", 2222) == {
        "MLOPS_AVAILABILITY_URL": "https://hub.example.org/services/gpu-availability/api/v1/snapshot",
        "MLOPS_SSH_HOST": "hub.example.org",
        "MLOPS_SSH_PORT": "2222",
        "MLOPS_SSH_KEYS_URL": "https://hub.example.org/services/ssh/api/keys",
    }


@pytest.mark.cluster
async def test_provisioning_creates_the_user_namespace_policies(control_plane, core_v1):
    """With the hub's own token, as the spawner does it on a first spawn (twice: idempotent)."""
    from kubernetes_asyncio import config as k8s_config

    prefix = f"mlops-{uuid.uuid4().hex[:4]}-"
    namespace = f"{prefix}carol"
    policies = user_namespace_policies(namespace, "jhub", {"app": "jupyterhub", "release": "jhub"})
    api = await k8s_config.new_client_from_config(str(control_plane.kubeconfig("hub")))
    try:
        for _ in range(2):
            await ensure_user_namespace(api, "carol", prefix=prefix, network_policies=policies)
    finally:
        await api.close()
    try:
        stored = kubernetes.client.NetworkingV1Api(control_plane.api_client("admin"))
        names = {p.metadata.name for p in stored.list_namespaced_network_policy(namespace).items}
        assert names == {
            "jupyterhub-mlops-notebooks",
            "jupyterhub-mlops-jobs",
            "jupyterhub-mlops-egress",
            "jupyterhub-mlops-katib-suggestions",
        }
    finally:
        core_v1.delete_namespace(namespace)
