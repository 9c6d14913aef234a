"""helm-values/values.yaml: it parses, its hub.extraConfig runs against a real
traitlets config, GPUKubeSpawner accepts every setting, and the pods it then builds
for each profile pass the real API server (server-side dry run, as the hub).
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import kubernetes_asyncio
import kubespawner.clients as kubespawner_clients
import pytest
import traitlets.config
import yaml
import z2jh_standin
from deploy_support import HELM_VALUES, NOTEBOOK_SA, load_all, provision_as_hub
from jupyterhub.app import JupyterHub
from jupyterhub.scopes import scope_definitions
from jupyterhub_mlops.availability.app import AvailabilityService
from jupyterhub_mlops.profiles import GpuProfiles, profile_from_config
from jupyterhub_mlops.spawner import GPUKubeSpawner
from jupyterhub_mlops.ssh.app import SSHGatewayApp
from kubernetes_asyncio.client import Configuration
from traitlets.utils.importstring import import_item

VALUES = yaml.safe_load((HELM_VALUES / "values.yaml").read_text())


def run_extra_config(values: dict) -> traitlets.config.Config:
    """Execute hub.extraConfig as the chart's jupyterhub_config.py does: in key order."""
    z2jh_standin.install(values)
    c = traitlets.config.Config()
    for key, source in sorted(values["hub"]["extraConfig"].items()):
        exec(compile(source, f"hub.extraConfig.{key}", "exec"), {"c": c})
    return c


def unknown_keys(section: traitlets.config.Config, cls) -> list[str]:
    traits = cls.class_traits(config=True)
    return sorted(k for k in section if k not in traits)


def test_extra_config_selects_gpukubespawner():
    c = run_extra_config(VALUES)
    assert issubclass(import_item(c.JupyterHub.spawner_class), GPUKubeSpawner)


def test_every_setting_names_a_configurable_trait():
    c = run_extra_config(VALUES)
    assert not unknown_keys(c.GPUKubeSpawner, GPUKubeSpawner)
    assert not unknown_keys(c.KubeSpawner, GPUKubeSpawner)
    assert not unknown_keys(c.JupyterHub, JupyterHub)
    assert not unknown_keys(c.GpuProfiles, GpuProfiles)
    assert not unknown_keys(c.AvailabilityService, AvailabilityService)
    assert not unknown_keys(c.SSHGatewayApp, SSHGatewayApp)
    for entry in c.GpuProfiles.profiles:  # each one is a profile the suite accepts
        profile_from_config(entry, c.GpuProfiles.default_image, GpuProfiles().gpu_tolerations)


def test_a_misspelt_trait_is_caught():
    """The check above fails on a setting GPUKubeSpawner does not have."""
    broken = json.loads(json.dumps(VALUES))
    broken["hub"]["extraConfig"]["99-typo"] = "c.GPUKubeSpawner.gpu_tolerashuns = []"
    assert unknown_keys(run_extra_config(broken).GPUKubeSpawner, GPUKubeSpawner) == [
        "gpu_tolerashuns"]


def configured_profiles(c) -> dict:
    return {p.slug: p for p in GpuProfiles(config=c).configured()}


def test_example_profiles_cover_whole_gpus_and_mig():
    profiles = configured_profiles(run_extra_config(VALUES))
    assert [slug for slug, p in profiles.items() if p.default] == ["cpu"]
    assert (profiles["a100-4"].gpu_type, profiles["a100-4"].gpus) == ("NVIDIA-A100-SXM4-80GB", 4)
    assert (profiles["mig-1g"].gpu_type, profiles["mig-1g"].gpus) == (
        "NVIDIA-A100-SXM4-80GB/mig-1g.10gb", 1)
    assert profiles["cpu"].gpus == 0 and profiles["cpu"].gpu_type is None


def test_hub_services_and_their_roles_are_consistent():
    hub = VALUES["hub"]
    web_services = {name: s for name, s in hub["services"].items() if "url" in s}
    service_ports = {int(s["url"].rsplit(":", 1)[1]) for s in web_services.values()}
    assert service_ports <= {p["targetPort"] for p in hub["service"]["extraPorts"]}
    # Only the proxy may reach those ports (networkpolicies/hub.yaml).
    (policy,) = load_all(HELM_VALUES / "networkpolicies" / "hub.yaml")
    proxied = {p["port"] for rule in policy["spec"]["ingress"] if rule.get("from")
               for p in rule["ports"]}
    assert service_ports == proxied
    for name, service in web_services.items():
        assert service["command"][:2] == ["python3", "-m"], name
        assert service["command"][2].startswith("jupyterhub_mlops."), name
    for name, role in hub["loadRoles"].items():
        assert set(role.get("services", [])) <= set(hub["services"]), name
        # A scope may carry a filter (access:services!service=ssh): its base must exist,
        # and a service it names must be one of ours.
        for scope in role["scopes"]:
            base, _, scope_filter = scope.partition("!")
            assert base in scope_definitions, f"{name}: unknown scope {scope}"
            if scope_filter.startswith("service="):
                assert scope_filter.removeprefix("service=") in web_services, f"{name}: {scope}"


# ------------------------------------------------------------- pods on the real API server
@pytest.fixture
def hub_kubeconfig(control_plane, monkeypatch):
    """KubeSpawner loads its client configuration at construction: point it at the hub,
    and leave no trace of it in KubeSpawner's process-wide caches afterwards."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # kubernetes_asyncio reads $KUBECONFIG once, at import: set its default itself.
    monkeypatch.setattr(kubernetes_asyncio.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION",
                        str(control_plane.kubeconfig("hub")))
    previous = Configuration.get_default_copy()
    kubespawner_clients.load_config.cache_clear()
    cached = set(kubespawner_clients._client_cache)
    yield
    kubespawner_clients.load_config.cache_clear()
    for key in set(kubespawner_clients._client_cache) - cached:
        kubespawner_clients._client_cache.pop(key)
    Configuration.set_default(previous)


def make_spawner(c, username: str) -> GPUKubeSpawner:
    """A spawner as the hub makes one (call it with an event loop running)."""
    user = SimpleNamespace(name=username, id=1, url=f"/user/{username}/", groups=[], spawners={})
    hub = SimpleNamespace(public_host="", url="http://hub:8081/hub/", base_url="/hub/",
                          api_url="http://hub:8081/hub/api")
    return GPUKubeSpawner(config=c, user=user, hub=hub)


def grant_for(profile) -> tuple[dict, str]:
    """The node selector and GPU resource the availability service grants with a
    reservation of this profile (the GPU type id names the product and the resource)."""
    if not profile.gpus:
        return {}, "nvidia.com/gpu"
    product, _, resource = profile.gpu_type.partition("/")
    return {"nvidia.com/gpu.product": product}, f"nvidia.com/{resource or 'gpu'}"


async def pod_for(c, username: str, slug: str) -> tuple[str, dict]:
    """The user's namespace and the pod GPUKubeSpawner builds for that profile once the
    availability service granted it, as a dict."""
    spawner = make_spawner(c, username)
    profile = configured_profiles(c)[slug]
    spawner.apply_overrides(spawner.profile_overrides(profile.to_json(), *grant_for(profile)))
    pod = await spawner.get_pod_manifest()
    return spawner.namespace, kubernetes_asyncio.client.ApiClient().sanitize_for_serialization(pod)


@pytest.mark.cluster
async def test_spawner_takes_the_config_without_complaint(hub_kubeconfig, caplog):
    with caplog.at_level(logging.WARNING):
        spawner = make_spawner(run_extra_config(VALUES), "alice")
    assert not [r for r in caplog.records if "not recognized" in r.getMessage()]
    assert spawner.namespace == "mlops-alice"
    assert spawner.service_account == NOTEBOOK_SA


@pytest.mark.cluster
@pytest.mark.parametrize("slug", [p["slug"] for p in VALUES["custom"]["mlops"]["profiles"]])
async def test_each_profile_builds_a_pod_the_api_server_admits(control_plane, hub_kubeconfig,
                                                                core_v1, slug):
    c = run_extra_config(VALUES)
    username = f"u{slug.replace('-', '')}{id(c) % 100000}"
    namespace, pod = await pod_for(c, username, slug)
    profile = next(p for p in VALUES["custom"]["mlops"]["profiles"] if p["slug"] == slug)
    spec = pod["spec"]
    (notebook,) = [ctr for ctr in spec["containers"] if ctr["name"] == "notebook"]
    # The image's entrypoint (tini + start-sshd.sh) must stay: KubeSpawner sets args only.
    assert "command" not in notebook
    if profile.get("gpus"):
        resource = profile.get("resource", "nvidia.com/gpu")
        assert notebook["resources"]["limits"][resource] == str(profile["gpus"])
        assert spec["nodeSelector"]["nvidia.com/gpu.product"] == profile["product"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
            spec["tolerations"]
    # Exactly one memory-backed volume at /dev/shm, whoever adds it.
    (shm_mount,) = [m for m in notebook["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    shm = next(v for v in spec["volumes"] if v["name"] == shm_mount["name"])
    assert shm["emptyDir"]["medium"] == "Memory"
    assert spec["serviceAccountName"] == NOTEBOOK_SA
    assert spec["automountServiceAccountToken"] is True

    # The namespace as KubeSpawner creates it (with the hub's token, labels from the
    # config: Pod Security "baseline" is then enforced by the real admission plugin).
    labels = dict(c.GPUKubeSpawner.user_namespace_labels)
    control_plane.kubectl("create", "-f", "-", identity="hub", input=json.dumps({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": namespace, "labels": labels}}))
    try:
        provision_as_hub(control_plane, namespace)
        pod["metadata"]["namespace"] = namespace
        result = control_plane.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                                       identity="hub", input=json.dumps(pod), check=False)
        assert result.returncode == 0, result.stderr
        (admitted,) = [ctr for ctr in json.loads(result.stdout)["spec"]["containers"]
                       if ctr["name"] == "notebook"]
        if profile.get("gpus"):
            assert admitted["resources"]["limits"][resource] == str(profile["gpus"])
    finally:
        core_v1.delete_namespace(namespace)


@pytest.mark.cluster
def test_hub_service_ports_pass_the_api_server(control_plane, namespace):
    """The chart adds hub.service.extraPorts to its hub Service: the API server must take
    them (port names are DNS labels, unique within the Service)."""
    ports = [{"name": "hub", "port": 8081, "targetPort": "http"},
             *VALUES["hub"]["service"]["extraPorts"]]
    result = control_plane.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-",
                                   check=False, input=json.dumps({
                                       "apiVersion": "v1", "kind": "Service",
                                       "metadata": {"name": "hub"},
                                       "spec": {"selector": {"component": "hub"},
                                                "ports": ports}}))
    assert result.returncode == 0, result.stderr
