"""The real Zero-to-JupyterHub 4.4 chart with helm-values/values.yaml, end to end.

Helm (built from its Go module) lints and renders the chart from
../shared/third_party/ (``mlops_cluster.helm.z2jh_chart``: a missing chart
fails these tests, it never skips them); every rendered object, our RBAC,
NetworkPolicies and SSH Service are applied server-side in the release
namespace; then the hub runs as the hub pod runs it: the chart's own
jupyterhub_config.py and z2jh.py reading the rendered ConfigMap and Secret
where the pod mounts them, the Deployment's environment and the Service links,
JupyterHub 5.5 and KubeSpawner 7.0 from the hub image's packages, and the
managed services started by JupyterHub itself (``chart_deployment``). A user
logs in through the proxy's TLS port, picks a GPU profile, and the notebook pod
is created in their namespace, where the real API server enforces Pod Security
``baseline``, is scheduled by the chart's user scheduler, runs (pod runner) and
reaches the hub.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path

import kubernetes
import pytest
import requests
import yaml
from mlops_cluster import helm, hub_image, processes

from tests.deploy import deploy_support
from tests.deploy.chart_deployment import PUBLIC_HOST, RELEASE, ChartDeployment, by_kind
from tests.deploy.deploy_support import HELM_VALUES, RELEASE_NAMESPACE
from tests.deploy.network_policy_model import Endpoint, admits
from tests.mlops_testing import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

VALUES = yaml.safe_load((HELM_VALUES / "values.yaml").read_text())
USERS = {hub_image.IMAGE: "alice", hub_image.NEXT_MAJOR: "bob"}
"""One user per hub variant: the first one's namespace may still be terminating."""
TESTING_AUTHENTICATORS = {
    "dummy",
    "null",
    "shared-password",
    "jupyterhub.auth.DummyAuthenticator",
    "dummyauthenticator.DummyAuthenticator",
}


@pytest.fixture(scope="module")
def shipped_render():
    """The chart rendered with the shipped values alone."""
    return helm.render(helm.z2jh_chart(), RELEASE, RELEASE_NAMESPACE, [HELM_VALUES / "values.yaml"])


@pytest.fixture(
    scope="module", params=hub_image.VARIANTS, ids=["jupyterhub-5.5-as-deployed", "jupyterhub-6-as-pip-resolves"]
)
def deployment(request, control_plane, core_v1, tmp_path_factory):
    """The chart deployed and its pods running, with the hub on JupyterHub 5.5 (the hub
    image's) and then 6 (what pip resolves: what a chart upgrade brings)."""
    from tests.deploy.deploy_support import release_namespace

    namespaces = release_namespace(core_v1)
    next(namespaces)
    chart = ChartDeployment(control_plane, core_v1, tmp_path_factory.mktemp("z2jh"), hub_variant=request.param)
    chart.user = USERS[request.param]
    chart.user_namespace = f"mlops-{chart.user}"
    try:
        chart.start()
        yield chart
    finally:
        chart.stop()
        try:
            core_v1.delete_namespace(chart.user_namespace)
        except kubernetes.client.ApiException:
            pass
        next(namespaces, None)


def rendered_values(objects: list[dict]) -> dict:
    """values.yaml as the chart hands it to the hub (its Secret)."""
    import base64

    (secret,) = [o for o in by_kind(objects, "Secret") if o["metadata"]["name"] == "hub"]
    data = secret.get("data") or {}
    text = (
        base64.b64decode(data["values.yaml"]).decode() if "values.yaml" in data else secret["stringData"]["values.yaml"]
    )
    return yaml.safe_load(text)


# ----------------------------------------------------------------- render
def test_helm_lint_and_schema_accept_the_values():
    result = helm.lint(helm.z2jh_chart(), [HELM_VALUES / "values.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_is_read_from_shared_not_the_repository():
    chart = helm.z2jh_chart()
    assert (chart / "Chart.yaml").read_text().count("version: 4.4.0") == 1
    assert helm.CLUSTER_DIR.parent not in chart.parents


def test_a_missing_chart_is_an_error_that_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setattr(helm, "chart_candidates", lambda: [tmp_path / "nowhere"])
    with pytest.raises(helm.ChartMissing, match="nowhere.*MLOPS_Z2JH_CHART"):
        helm.z2jh_chart()


def test_shipped_values_log_in_with_a_real_authenticator_over_tls(shipped_render):
    values = rendered_values(shipped_render)
    authenticator = values["hub"]["config"]["JupyterHub"]["authenticator_class"]
    assert authenticator not in TESTING_AUTHENTICATORS
    assert values["proxy"]["https"]["enabled"] is True
    assert values["proxy"]["https"]["type"] in ("secret", "letsencrypt", "manual")
    # The name resolves in the hub image's packages to an OAuth authenticator.
    probe = (
        "from importlib.metadata import entry_points; "
        f"cls = entry_points(group='jupyterhub.authenticators')[{authenticator!r}].load(); "
        "print(cls.__module__, cls.__name__)"
    )
    result = subprocess.run([str(hub_image.python()), "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["oauthenticator.generic", "GenericOAuthenticator"]


def test_notebook_pods_have_no_privileged_init_container(shipped_render):
    """Pod Security baseline refuses privileged and NET_ADMIN containers in user namespaces."""
    values = rendered_values(shipped_render)
    assert values["singleuser"]["cloudMetadata"]["blockWithIptables"] is False


def test_prometheus_reaches_the_hub_metrics_through_the_hub_policy(shipped_render):
    """The chart's hub NetworkPolicy admits Prometheus on the hub port (/hub/metrics)."""
    policies = [
        p
        for p in by_kind(shipped_render, "NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].get("component") == "hub"
    ]
    ns_labels = {
        "monitoring": {"kubernetes.io/metadata.name": "monitoring"},
        RELEASE_NAMESPACE: {"kubernetes.io/metadata.name": RELEASE_NAMESPACE},
    }
    hub = Endpoint(RELEASE_NAMESPACE, {"app": "jupyterhub", "component": "hub", "release": RELEASE})
    prometheus = Endpoint("monitoring", {"app.kubernetes.io/name": "prometheus"}, "10.1.0.9")
    stranger = Endpoint("monitoring", {"app.kubernetes.io/name": "grafana"}, "10.1.0.8")
    for policy in policies:
        policy["metadata"].setdefault("namespace", RELEASE_NAMESPACE)
    assert admits(policies, ns_labels, prometheus, hub, 8081)
    assert not admits(policies, ns_labels, stranger, hub, 8081)


# ------------------------------------------------------------- the hub pod
def test_rendered_objects_are_in_the_release_namespace(deployment, core_v1):
    kinds = {o["kind"] for o in deployment.objects}
    assert {"Deployment", "Service", "Secret", "ConfigMap", "NetworkPolicy"} <= kinds
    apps = kubernetes.client.AppsV1Api(deployment.control_plane.api_client("admin"))
    names = {d.metadata.name for d in apps.list_namespaced_deployment(RELEASE_NAMESPACE).items}
    assert {"hub", "proxy", "user-scheduler"} <= names


def test_the_managed_services_start_and_answer(deployment):
    """JupyterHub starts them with a filtered environment; they load the chart's config
    file (which reads Service links) and use in-cluster Kubernetes credentials."""
    hub_ip = deployment.hub_ip
    deployment.wait_http(f"http://{hub_ip}:8081/hub/health", "the hub API")
    deployment.wait_http(f"http://{hub_ip}:10101/services/gpu-availability/api/v1/snapshot", "the availability service")
    deployment.wait_http(f"http://{hub_ip}:10102/services/ssh/api/keys", "the SSH gateway's key API")
    # Through the proxy's TLS port, a user's token: the inventory is in sync.
    token = user_token(deployment)
    snapshot = wait_for(
        lambda: (lambda r: r.ok and r.json().get("in_sync") and r.json())(
            requests.get(
                f"{deployment.public_url}/services/gpu-availability/api/v1/snapshot",
                headers={"Authorization": f"token {token}"},
                verify=str(deployment.ca_file),
                timeout=10,
            )
        ),
        timeout=60,
        what="an in-sync snapshot through the proxy",
    )
    assert snapshot["gpu_types"], snapshot
    log = deployment.log("hub", 400)
    assert "KeyError" not in log and "Service host/port is not set" not in log, log


def service_environment(hub_proc, module: str) -> dict[str, str]:
    for pid in processes.descendants(hub_proc.pid):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if module.encode() in cmdline:
            raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            return dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    raise AssertionError(f"no process runs {module}")


def test_services_call_the_hub_api_inside_the_pod_and_get_no_secret(deployment):
    test_the_managed_services_start_and_answer(deployment)
    for module in ("jupyterhub_mlops.availability", "jupyterhub_mlops.ssh"):
        env = service_environment(deployment.pods["hub"].proc, module)
        assert env["JUPYTERHUB_API_URL"] == "http://127.0.0.1:8081/hub/api", module
        assert "CONFIGPROXY_AUTH_TOKEN" not in env, module
        assert env["KUBERNETES_SERVICE_HOST"] and env["PROXY_API_SERVICE_PORT"], module


def test_prometheus_scrapes_the_hub_and_the_service_with_the_charts_token(deployment, core_v1):
    """The token the chart generates for the prometheus service (role read:metrics): the
    hub's /hub/metrics on the hub pod (the hub NetworkPolicy admits Prometheus there) and
    the service's metrics through the proxy, both with the suite's metric names."""
    import base64

    test_the_managed_services_start_and_answer(deployment)
    secret = core_v1.read_namespaced_secret("hub", RELEASE_NAMESPACE)
    token = base64.b64decode(secret.data["hub.services.prometheus.apiToken"]).decode()
    headers = {"Authorization": f"token {token}"}
    hub_metrics = f"http://{deployment.hub_ip}:8081/hub/metrics"
    assert requests.get(hub_metrics, timeout=30).status_code in (401, 403)
    hub = requests.get(hub_metrics, headers=headers, timeout=30)
    assert hub.status_code == 200, hub.text[-500:]
    assert "# TYPE jupyterhub_mlops_spawn_refusals_total counter" in hub.text
    assert "jupyterhub_running_servers" in hub.text  # JupyterHub's own
    service = requests.get(
        f"{deployment.public_url}/services/gpu-availability/metrics",
        headers=headers,
        verify=str(deployment.ca_file),
        timeout=30,
    )
    assert service.status_code == 200, service.text[-500:]
    assert re.search(r'^jupyterhub_mlops_gpus_total\{gpu_type="NVIDIA-A100-SXM4-80GB"\} \d', service.text, re.M), (
        service.text[-2000:]
    )


# --------------------------------------------------------------- a user
def login(deployment) -> requests.Session:
    session = requests.Session()
    # Trust the deployment's CA alone: with trust_env, $REQUESTS_CA_BUNDLE would win.
    session.trust_env = False
    session.verify = str(deployment.ca_file)
    page = session.get(f"{deployment.public_url}/hub/login", timeout=30)
    page.raise_for_status()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    resp = session.post(
        f"{deployment.public_url}/hub/login",
        timeout=30,
        data={"username": deployment.user, "password": deployment.password, "_xsrf": xsrf},
    )
    resp.raise_for_status()
    return session


def user_token(deployment) -> str:
    session = login(deployment)
    page = session.get(f"{deployment.public_url}/hub/token", timeout=30)
    xsrf = re.search(r'xsrf_token: "([^"]+)"', page.text).group(1)
    resp = session.post(
        f"{deployment.public_url}/hub/api/users/{deployment.user}/tokens",
        timeout=30,
        headers={"X-XSRFToken": xsrf, "Referer": f"{deployment.public_url}/hub/token"},
        json={"note": "chart test", "expires_in": 3600},
    )
    resp.raise_for_status()
    return resp.json()["token"]


@pytest.fixture(scope="module")
def spawned(deployment, core_v1):
    """alice logs in through the proxy, picks the one-A100 profile; her pod as created."""
    test_the_managed_services_start_and_answer(deployment)
    session = login(deployment)
    page = session.get(f"{deployment.public_url}/hub/spawn", timeout=60)
    assert page.status_code == 200, page.text[-2000:]
    assert 'value="a100-1"' in page.text
    xsrf = re.search(r'xsrf_token: "([^"]+)"', page.text).group(1)
    resp = session.post(
        f"{deployment.public_url}/hub/spawn",
        timeout=60,
        allow_redirects=False,
        data={"profile": "a100-1", "gpus": "1", "_xsrf": xsrf},
    )
    assert resp.status_code in (302, 303), resp.text[-2000:]

    def pod():
        try:
            pvcs = core_v1.list_namespaced_persistent_volume_claim(deployment.user_namespace).items
        except kubernetes.client.ApiException:
            return None
        for pvc in pvcs:  # the provisioner's part: a volume for each claim
            if pvc.status.phase == "Pending":
                deployment.provide_volume(deployment.user_namespace, pvc.metadata.name)
        pods = core_v1.list_namespaced_pod(deployment.user_namespace).items
        return pods[0] if pods else None

    created = wait_for(
        pod,
        timeout=120,
        interval=1,
        what=f"{deployment.user}'s pod in {deployment.user_namespace}:\n" + deployment.log("hub", 80),
    )
    return session, kubernetes.client.ApiClient().sanitize_for_serialization(created)


def test_the_pod_is_admitted_under_pod_security_baseline(spawned, core_v1, deployment):
    _, pod = spawned
    labels = core_v1.read_namespace(deployment.user_namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    # Admitted by the real API server under that label: no privileged container.
    for container in [*(pod["spec"].get("initContainers") or []), *pod["spec"]["containers"]]:
        context = container.get("securityContext") or {}
        assert not context.get("privileged"), container["name"]
        assert "NET_ADMIN" not in ((context.get("capabilities") or {}).get("add") or [])


def test_the_pod_has_the_profile_the_chart_volumes_and_the_singleuser_image(spawned):
    _, pod = spawned
    spec = pod["spec"]
    (notebook,) = [c for c in spec["containers"] if c["name"] == "notebook"]
    assert notebook["image"] == "{name}:{tag}".format(**VALUES["singleuser"]["image"])
    assert notebook["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert spec["schedulerName"] == f"{RELEASE}-user-scheduler"
    mounts = {m["mountPath"]: m for m in notebook["volumeMounts"]}
    assert mounts["/home/jovyan"]["name"].startswith("volume-")  # the chart's home volume
    assert mounts["/dev/shm"]["name"] == "dshm"
    claim = next(v for v in spec["volumes"] if v["name"] == mounts["/home/jovyan"]["name"])
    assert claim["persistentVolumeClaim"]["claimName"].startswith("claim-")


def test_the_notebook_side_is_wired_to_the_hub_services(spawned):
    _, pod = spawned
    (notebook,) = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    env = {e["name"]: e.get("value") for e in notebook["env"]}
    assert env["MLOPS_AVAILABILITY_URL"] == (f"https://{PUBLIC_HOST}/services/gpu-availability/api/v1/snapshot")
    assert env["MLOPS_SSH_HOST"] == PUBLIC_HOST and env["MLOPS_SSH_PORT"] == "2222"
    assert env["MLOPS_SSH_KEYS_URL"] == f"https://{PUBLIC_HOST}/services/ssh/api/keys"


def test_the_user_namespace_gets_its_network_policies(spawned, deployment):
    networking = kubernetes.client.NetworkingV1Api(deployment.control_plane.api_client("admin"))
    names = {p.metadata.name for p in networking.list_namespaced_network_policy(deployment.user_namespace).items}
    assert names == {
        "jupyterhub-mlops-notebooks",
        "jupyterhub-mlops-jobs",
        "jupyterhub-mlops-egress",
        "jupyterhub-mlops-katib-suggestions",
    }


def server_ready(session, deployment) -> dict:
    def ready():
        resp = session.get(
            f"{deployment.public_url}/hub/api/users/{deployment.user}",
            timeout=30,
            headers={"Referer": f"{deployment.public_url}/hub/home"},
        )
        server = (resp.json().get("servers") or {}).get("") if resp.ok else None
        return server if server and server.get("ready") else None

    return wait_for(ready, timeout=240, interval=2, what=f"{deployment.user}'s server to be ready")


def test_the_server_runs_and_reaches_the_hub(spawned, deployment):
    session, _ = spawned
    try:
        server_ready(session, deployment)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{deployment.log('hub', 60)}") from None
    # Through the proxy's TLS port, to the server in the pod, with a token of the user's.
    resp = session.get(
        f"{deployment.public_url}/user/{deployment.user}/api/status",
        timeout=60,
        headers={"Authorization": f"token {user_token(deployment)}"},
    )
    assert resp.status_code == 200, resp.text[-1000:]
    assert json.loads(resp.text).get("started")


def test_ssh_through_the_gateway_reaches_the_notebook_container(spawned, deployment, tmp_path):
    """The SSH gateway (a managed service of the chart's hub) logs the user in with a
    JupyterHub token and relays to the sshd in their pod, found through the API server."""
    session, pod = spawned
    server_ready(session, deployment)
    askpass = tmp_path / "askpass.sh"
    askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$MLOPS_TEST_PASSWORD"\n')
    askpass.chmod(0o700)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DISPLAY": ":0",
        "SSH_ASKPASS": str(askpass),
        "SSH_ASKPASS_REQUIRE": "force",
        "MLOPS_TEST_PASSWORD": user_token(deployment),
    }
    ssh = [
        "ssh",
        "-p",
        "2222",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"UserKnownHostsFile={tmp_path / 'known_hosts'}",
        "-o",
        "BatchMode=no",
        "-o",
        "PreferredAuthentications=password",
        f"{deployment.user}@{deployment.hub_ip}",
        "echo user=$JUPYTERHUB_USER namespace=$MLOPS_NAMESPACE",
    ]

    def logged_in():
        result = subprocess.run(ssh, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        return result if result.returncode == 0 else None

    result = wait_for(
        logged_in, timeout=60, interval=2, what="an SSH login through the gateway:\n" + deployment.log("hub", 40)
    )
    # The session has the notebook's environment (the sshd beside the notebook server).
    assert f"user={deployment.user} namespace={pod['metadata']['namespace']}" in result.stdout


# -------------------------------------- the hub's configuration, as the hub pod loads it
@pytest.fixture(scope="module")
def hub_config(deployment):
    """The chart's jupyterhub_config.py loaded in the hub pod's mounts and environment,
    and the pod GPUKubeSpawner builds for each profile (``hub_config_probe``)."""
    probe = Path(__file__).with_name("hub_config_probe.py")
    result = deployment.pods["hub"].run([str(hub_image.python(deployment.hub_variant)), str(probe)])
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_chart_config_selects_gpukubespawner_with_known_traits_only(hub_config):
    assert hub_config["config"]["JupyterHub"]["spawner_class"] == "jupyterhub_mlops.spawner.GPUKubeSpawner"
    assert not any(hub_config["unknown"].values()), hub_config["unknown"]


def test_the_notebook_environment_names_the_hub_services(hub_config):
    """The fit check, %mlops gpus and the sidebar's GPU and SSH panels read these."""
    env = hub_config["config"]["KubeSpawner"]["environment"]
    assert env["MLOPS_AVAILABILITY_URL"] == (f"https://{PUBLIC_HOST}/services/gpu-availability/api/v1/snapshot")
    assert (env["MLOPS_SSH_HOST"], env["MLOPS_SSH_PORT"]) == (PUBLIC_HOST, "2222")
    assert env["MLOPS_SSH_KEYS_URL"] == f"https://{PUBLIC_HOST}/services/ssh/api/keys"


def test_the_hub_runs_the_versions_of_the_hub_image():
    """Z2JH 4.4's hub image: JupyterHub 5.5.0 and KubeSpawner 7.0.0 (images/hub/constraints.txt)."""
    pins = dict(
        line.split("==")
        for line in hub_image.CONSTRAINTS.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert (pins["jupyterhub"], pins["jupyterhub-kubespawner"]) == ("5.5.0", "7.0.0")
    probe = "from importlib.metadata import version as v; print(v('jupyterhub'), v('jupyterhub-kubespawner'))"
    result = subprocess.run([str(hub_image.python()), "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["5.5.0", "7.0.0"], result.stderr


def test_every_profile_builds_a_pod_from_the_chart_volumes(hub_config):
    """The chart sets KubeSpawner.volumes and volume_mounts as dicts."""
    assert not hub_config["errors"], "\n".join(hub_config["errors"].values())
    slugs = {p["slug"] for p in VALUES["custom"]["mlops"]["profiles"]}
    assert slugs <= set(hub_config["pods"])
    for slug, pod in hub_config["pods"].items():
        (notebook,) = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
        mounts = {m["mountPath"] for m in notebook["volumeMounts"]}
        assert {"/home/jovyan", "/dev/shm"} <= mounts, slug
        assert notebook["image"] == "{name}:{tag}".format(**VALUES["singleuser"]["image"]), slug


def test_every_profile_pod_passes_pod_security_baseline(hub_config, deployment, core_v1):
    """Server-side dry run, as the hub, in a namespace labelled as the spawner labels them."""
    namespace = f"mlops-probe-{secrets.token_hex(3)}"
    labels = {"pod-security.kubernetes.io/enforce": "baseline"}
    core_v1.create_namespace({"metadata": {"name": namespace, "labels": labels}})
    try:
        deploy_support.provision_as_hub(deployment.control_plane, namespace)
        assert {p["slug"] for p in VALUES["custom"]["mlops"]["profiles"]} <= set(hub_config["pods"])
        for slug, pod in hub_config["pods"].items():
            pod["metadata"]["namespace"] = namespace
            result = deployment.control_plane.kubectl(
                "create",
                "--dry-run=server",
                "-o",
                "json",
                "-f",
                "-",
                identity="hub",
                input=json.dumps(pod),
                check=False,
            )
            assert result.returncode == 0, f"{slug}: {result.stderr}"
    finally:
        core_v1.delete_namespace(namespace)


def test_the_notebook_submits_a_job_as_its_own_service_account(spawned, deployment):
    """The jobs API of the server in the pod, through the proxy with the user's token,
    creates a PyTorchJob in the user's namespace with the pod's service account."""
    session, pod = spawned
    server_ready(session, deployment)
    name = f"chart-job-{secrets.token_hex(3)}"
    resp = session.post(
        f"{deployment.public_url}/user/{deployment.user}/mlops/api/v1/jobs/pytorchjobs",
        timeout=60,
        headers={"Authorization": f"token {user_token(deployment)}"},
        json={
            "name": name,
            "command": "python train.py",
            "snapshot": None,
            "image": pod["spec"]["containers"][0]["image"],
        },
    )
    assert resp.status_code == 201, resp.text[-2000:]
    assert resp.json()["namespace"] == deployment.user_namespace
    custom = kubernetes.client.CustomObjectsApi(deployment.control_plane.api_client("admin"))
    job = custom.get_namespaced_custom_object("kubeflow.org", "v1", deployment.user_namespace, "pytorchjobs", name)
    # Its pods count against the user's GPU cap: the spawner's owner label reached the job.
    template = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    assert template["metadata"]["labels"]["jupyterhub-mlops/user"] == deployment.user


def test_a_spawn_through_the_rest_api_takes_the_profile_from_the_body(deployment, core_v1):
    """JupyterHub's REST API hands the POST body to the spawner as user_options (no form,
    no opt- prefix); GPUKubeSpawner validates and reserves it the same way."""
    test_the_managed_services_start_and_answer(deployment)
    user = f"{deployment.user}-api"
    deployment.user = user
    try:
        token = user_token(deployment)
    finally:
        deployment.user = user.removesuffix("-api")
    headers = {"Authorization": f"token {token}"}
    api = f"{deployment.public_url}/hub/api/users/{user}/server"
    namespace = f"mlops-{user}"
    # The chart answers spawns at once (slow_spawn_timeout 0): a refused profile ends the
    # pending spawn, and nothing is created.
    bad = requests.post(
        api, json={"profile": "no-such-profile"}, headers=headers, verify=str(deployment.ca_file), timeout=60
    )
    assert bad.status_code in (400, 202), bad.text

    def settled():
        model = requests.get(
            f"{deployment.public_url}/hub/api/users/{user}", headers=headers, verify=str(deployment.ca_file), timeout=30
        ).json()
        return model if not model.get("servers") else None

    wait_for(settled, timeout=60, interval=1, what="the refused spawn to end")
    assert not core_v1.list_namespaced_pod(namespace).items
    resp = requests.post(api, json={"profile": "rtx-1"}, headers=headers, verify=str(deployment.ca_file), timeout=60)
    assert resp.status_code in (201, 202), resp.text
    try:
        pod = wait_for(
            lambda: next(iter(core_v1.list_namespaced_pod(namespace).items), None),
            timeout=120,
            interval=1,
            what=f"{user}'s pod",
        )
        assert pod.spec.node_selector["nvidia.com/gpu.product"] == "NVIDIA-RTX-A6000"
        assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    finally:
        requests.delete(api, headers=headers, verify=str(deployment.ca_file), timeout=60)
        core_v1.delete_namespace(namespace)
