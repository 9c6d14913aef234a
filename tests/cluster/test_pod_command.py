"""What the local pod runner runs for a pod: pure functions, tested as dicts."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlops_cluster.pod_command import (
    PodNotRunnable,
    bind_to_pod_ip,
    container_env,
    expand,
    home_folder,
    local_command,
    ready_to_run,
    shares_process_namespace,
)

POD_IP = "127.128.0.7"


def pod(containers=None, annotations=None, labels=None, **status) -> dict:
    return {
        "metadata": {
            "name": "jupyter-alice",
            "namespace": "ns",
            "uid": "u-1",
            "annotations": {"jupyterhub-mlops.local/run-locally": "true", **(annotations or {})},
            "labels": labels or {},
        },
        "spec": {"nodeName": "cpu-0", "containers": containers or [{"name": "c", "args": ["x"]}]},
        "status": {"podIP": POD_IP, "phase": "Running", **status},
    }


def no_objects(kind, namespace, name):
    return None


def test_expand_follows_kubernetes_rules():
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$(MISSING) stays", env) == "$(MISSING) stays"
    assert expand("$$(A) is escaped, $ alone stays", env) == "$(A) is escaped, $ alone stays"


def test_env_resolves_fields_references_and_keys_in_order():
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
            {"name": "GREETING", "value": "hello $(POD) on $(IP), not $(LATER)"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "MAYBE", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
            {"name": "LATER", "value": "late"},
        ],
    }
    objects = {("ConfigMap", "settings"): {"level": "debug"}, ("Secret", "creds"): {"token": "s3"}}
    env = container_env(
        pod([container], labels={"team": "vision"}), container, lambda kind, ns, name: objects.get((kind, name))
    )
    assert env == {
        "CFG_level": "debug",
        "POD": "jupyter-alice",
        "IP": POD_IP,
        "TEAM": "vision",
        "GREETING": f"hello jupyter-alice on {POD_IP}, not $(LATER)",
        "TOKEN": "s3",
        "LATER": "late",
    }


def test_missing_secret_or_unsupported_source_is_refused_with_a_reason():
    missing = {"name": "c", "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]}
    with pytest.raises(PodNotRunnable, match="Secret ns/creds not found"):
        container_env(pod([missing]), missing, no_objects)
    wrong_key = {"name": "c", "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "other"}}}]}
    with pytest.raises(PodNotRunnable, match="key 'other' not found in Secret ns/creds"):
        container_env(pod([wrong_key]), wrong_key, lambda *a: {"token": "x"})
    resources = {"name": "c", "env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}
    with pytest.raises(PodNotRunnable, match="resourceFieldRef is not supported"):
        container_env(pod([resources]), resources, no_objects)


def test_wildcard_binds_become_the_pod_ip_and_others_stay():
    argv = ["server", "--ip=0.0.0.0", "--ServerApp.ip", "", "--other.ip=127.0.0.1", "--port=1"]
    env = {"JUPYTERHUB_SERVICE_URL": "http://0.0.0.0:8888/user/alice/", "X": "0.0.0.0"}
    new_argv, new_env = bind_to_pod_ip(argv, env, POD_IP)
    assert new_argv == ["server", f"--ip={POD_IP}", "--ServerApp.ip", POD_IP, "--other.ip=127.0.0.1", "--port=1"]
    assert new_env == {"JUPYTERHUB_SERVICE_URL": f"http://{POD_IP}:8888/user/alice/", "X": "0.0.0.0"}
    assert argv[1] == "--ip=0.0.0.0", "the input is not changed"


def test_home_is_per_user_when_the_pod_names_its_user():
    base = Path("/homes")
    assert home_folder(pod(labels={"hub.jupyter.org/username": "alice"}), base) == base / "alice"
    assert home_folder(pod(labels={"jupyterhub-mlops/user": "bob"}), base) == base / "bob"
    assert home_folder(pod(), base) == base / "ns-jupyter-alice"


def test_kubespawner_style_pod_runs_its_args_with_home_and_bind_address():
    container = {
        "name": "notebook",
        "args": ["jupyterhub-singleuser", "--debug"],
        "env": [
            {"name": "JUPYTERHUB_SERVICE_URL", "value": "http://0.0.0.0:8888/user/alice/"},
            {"name": "HOME", "value": "/home/jovyan"},
        ],
    }
    command = local_command(
        pod([container], labels={"hub.jupyter.org/username": "alice"}),
        no_objects,
        Path("/homes"),
        base_env={"PATH": "/venv/bin"},
    )
    assert command.argv == ["jupyterhub-singleuser", "--debug"]
    assert command.home == Path("/homes/alice")
    assert command.env == {
        "PATH": "/venv/bin",
        "HOME": "/homes/alice",
        "JUPYTERHUB_SERVICE_URL": f"http://{POD_IP}:8888/user/alice/",
    }


def test_main_container_follows_the_default_container_annotation():
    containers = [{"name": "sidecar", "command": ["a"]}, {"name": "main", "command": ["b"]}]
    chosen = pod(containers, annotations={"kubectl.kubernetes.io/default-container": "main"})
    assert local_command(chosen, no_objects, Path("/h"), {}).argv == ["b"]
    assert local_command(pod(containers), no_objects, Path("/h"), {}).argv == ["a"]


def test_a_container_without_command_is_refused():
    with pytest.raises(PodNotRunnable, match="neither command nor args"):
        local_command(pod([{"name": "c"}]), no_objects, Path("/h"), {})


def test_only_annotated_pods_with_an_ip_that_are_not_leaving_are_run():
    assert ready_to_run(pod())
    assert not ready_to_run(pod(annotations={"jupyterhub-mlops.local/run-locally": "false"}))
    assert not ready_to_run(pod(podIP=None))
    assert not ready_to_run(pod(phase="Succeeded"))
    leaving = pod()
    leaving["metadata"]["deletionTimestamp"] = "2026-11-28T18:00:00Z"
    assert not ready_to_run(leaving)


def test_an_image_the_runner_knows_runs_its_entrypoint_with_the_pods_args(tmp_path):
    """Katib's suggestion and collector containers give an image and args only."""
    collector = {
        "name": "metrics-logger-and-collector",
        "image": "collector:v1",
        "args": ["-t", "trial-1", "-path", "/var/log/katib/metrics.log"],
    }
    command = local_command(
        pod([{"name": "main", "args": ["x"]}, collector]),
        no_objects,
        tmp_path,
        {},
        container=collector,
        entrypoints={"collector:v1": ["/opt/collector"]},
    )
    assert command.argv == ["/opt/collector", "-t", "trial-1", "-path", "/var/log/katib/metrics.log"]
    with pytest.raises(PodNotRunnable, match="ENTRYPOINT of image 'other:v1'"):
        local_command(
            pod([{"name": "c", "image": "other:v1"}]),
            no_objects,
            tmp_path,
            {},
            entrypoints={"collector:v1": ["/opt/collector"]},
        )


def test_only_a_pod_sharing_its_process_namespace_runs_every_container():
    two = [{"name": "a", "args": ["x"]}, {"name": "b", "args": ["y"]}]
    shared = pod(two)
    shared["spec"]["shareProcessNamespace"] = True
    assert shares_process_namespace(shared)
    assert not shares_process_namespace(pod(two))
    alone = pod([{"name": "a", "args": ["x"]}])
    alone["spec"]["shareProcessNamespace"] = True
    assert not shares_process_namespace(alone)
