"""The development pod runner on the real control plane: annotated pods run as
local processes on the IP KWOK gave them, and stop when the pod is deleted.

Each pod runs `sh -c '...; exec python -m http.server --bind $(POD_IP) PORT'`:
$(POD_IP) is expanded by the runner from the downward API (a shell would try
to run a command named POD_IP), and the served env.txt shows the environment
the process really got.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import sys

import kubernetes
import pytest
from mlops_cluster import processes
from mlops_cluster.controlplane import pod_network
from mlops_cluster.pod_runner import PodRunner

from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

PORT = 8080
RUN_LOCALLY = {"jupyterhub-mlops.local/run-locally": "true"}


def serving_pod(name: str, annotations: dict | None = None, env: list | None = None, before_exec: str = "") -> dict:
    script = f'env > "$HOME/env.txt"; {before_exec} exec {sys.executable} -m http.server --bind $(POD_IP) {PORT}'
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "annotations": annotations or {},
            "labels": {"hub.jupyter.org/username": f"user-{name}"},
        },
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "web",
                    "image": "python:3.12-slim",
                    "command": ["/bin/sh", "-c"],
                    "args": [script],
                    "env": [
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "GREETING", "value": "hello from $(POD_NAME)"},
                        *(env or []),
                    ],
                }
            ],
        },
    }


def http_get(ip: str, path: str) -> tuple[int, str] | None:
    """(status, body), or None when nothing listens."""
    connection = http.client.HTTPConnection(ip, PORT, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    except (TimeoutError, ConnectionRefusedError):
        return None
    finally:
        connection.close()


def pod_ip(core_v1, namespace: str, name: str) -> str | None:
    return core_v1.read_namespaced_pod(name, namespace, _request_timeout=10).status.pod_ip


def running_for(runner: PodRunner, name: str):
    """The runner's process for pod ``name`` (each runner here watches one namespace)."""
    return next((p for p in runner.running().values() if p.name == name), None)


def alive(pid: int, started: str) -> bool:
    fields = processes._stat_fields(pid)
    return bool(fields) and fields[0] != "Z" and fields[19] == started


@pytest.fixture
def runner(control_plane, namespace, tmp_path):
    # Watching only this test's namespace keeps the pods of earlier tests,
    # still terminating, out of it.
    runner = PodRunner(
        control_plane.api_client("admin"), home_base=tmp_path / "homes", log_dir=tmp_path / "logs", namespace=namespace
    ).start()
    yield runner
    runner.stop()


def test_annotated_pod_is_served_on_its_ip_with_its_env(core_v1, namespace, runner, tmp_path):
    secret = base64.b64encode(b"s3cret-value").decode()
    core_v1.create_namespaced_secret(namespace, {"metadata": {"name": "creds"}, "data": {"token": secret}})
    token_env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]
    core_v1.create_namespaced_pod(namespace, serving_pod("web", RUN_LOCALLY, token_env))

    ip = wait_for(lambda: pod_ip(core_v1, namespace, "web"), what="an IP from KWOK")
    assert ipaddress.ip_address(ip) in pod_network()
    status, body = wait_for(
        lambda: http_get(ip, "/env.txt"), timeout=60, what=f"the pod's process serving on {ip}:{PORT}"
    )
    assert status == 200
    env = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
    assert env["GREETING"] == "hello from web"
    assert env["TOKEN"] == "s3cret-value"
    assert env["POD_IP"] == ip
    assert env["HOME"] == str(tmp_path / "homes" / "user-web")
    # The runner's own secrets do not leak into the pod.
    assert "KUBECONFIG" not in env


def test_deleting_the_pod_stops_its_process_and_everything_it_started(core_v1, namespace, runner):
    # A child that ignores SIGTERM and outlives its parent's exec.
    core_v1.create_namespaced_pod(
        namespace, serving_pod("web", RUN_LOCALLY, before_exec="(trap '' TERM; exec sleep 600) &")
    )
    ip = wait_for(lambda: pod_ip(core_v1, namespace, "web"), what="an IP from KWOK")
    wait_for(lambda: http_get(ip, "/"), timeout=60, what=f"serving on {ip}:{PORT}")
    local = running_for(runner, "web")
    tree = {local.proc.pid: processes._stat_fields(local.proc.pid)[19], **processes.descendants(local.proc.pid)}
    assert len(tree) == 2, tree  # python and the sleep

    core_v1.delete_namespaced_pod("web", namespace, _request_timeout=10)
    wait_for(lambda: running_for(runner, "web") is None, what="the runner to stop the process")
    assert not any(alive(pid, started) for pid, started in tree.items())
    assert http_get(ip, "/") is None
    assert "GET / HTTP" in local.log_file.read_text()


def test_pod_without_the_annotation_is_ignored(core_v1, namespace, runner):
    core_v1.create_namespaced_pod(namespace, serving_pod("plain"))
    plain_ip = wait_for(lambda: pod_ip(core_v1, namespace, "plain"), what="an IP from KWOK")
    # The runner handles events in order: once it serves a pod that got its IP
    # later, it has seen (and passed over) the first one.
    core_v1.create_namespaced_pod(namespace, serving_pod("opted-in", RUN_LOCALLY))
    ip = wait_for(lambda: pod_ip(core_v1, namespace, "opted-in"), what="an IP from KWOK")
    wait_for(lambda: http_get(ip, "/"), timeout=60, what=f"serving on {ip}:{PORT}")

    assert running_for(runner, "plain") is None
    assert http_get(plain_ip, "/") is None


def test_pod_with_a_missing_secret_is_not_run_and_says_why(core_v1, namespace, runner):
    missing = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]
    core_v1.create_namespaced_pod(namespace, serving_pod("web", RUN_LOCALLY, missing))

    def failure_event():
        events = core_v1.list_namespaced_event(
            namespace, field_selector="involvedObject.name=web", _request_timeout=10
        ).items
        return next((e for e in events if e.reason == "LocalProcessFailed"), None)

    event = wait_for(failure_event, timeout=60, what="a LocalProcessFailed event")
    assert event.type == "Warning"
    assert f"Secret {namespace}/absent not found" in event.message
    assert running_for(runner, "web") is None


def test_a_process_that_exits_is_reported_and_not_restarted(core_v1, namespace, runner):
    # restartPolicy Never: the kubelet would not start it again either (see
    # test_pod_runner_jobs.py for the policies that restart).
    pod = serving_pod("short")
    pod["metadata"]["annotations"] = RUN_LOCALLY
    pod["spec"]["restartPolicy"] = "Never"
    pod["spec"]["containers"][0]["args"] = ["echo bye; exit 3"]
    core_v1.create_namespaced_pod(namespace, pod)

    def exit_events():
        events = core_v1.list_namespaced_event(
            namespace, field_selector="involvedObject.name=short", _request_timeout=10
        ).items
        return [e for e in events if e.reason == "LocalProcessExited"]

    (event,) = wait_for(exit_events, timeout=60, what="a LocalProcessExited event")
    assert event.type == "Warning" and "exited with code 3" in event.message
    # A later update of the pod does not start it again. The runner handles
    # events in order: once it serves a pod created after the update, it has
    # seen the update.
    core_v1.patch_namespaced_pod("short", namespace, {"metadata": {"labels": {"touched": "yes"}}})
    core_v1.create_namespaced_pod(namespace, serving_pod("marker", RUN_LOCALLY))
    ip = wait_for(lambda: pod_ip(core_v1, namespace, "marker"), what="an IP from KWOK")
    wait_for(lambda: http_get(ip, "/"), timeout=60, what=f"serving on {ip}:{PORT}")
    started = [
        e
        for e in core_v1.list_namespaced_event(
            namespace, field_selector="involvedObject.name=short", _request_timeout=10
        ).items
        if e.reason == "LocalProcessStarted"
    ]
    assert len(started) == 1 and running_for(runner, "short") is None
    assert core_v1.read_namespaced_pod("short", namespace).status.phase == "Failed"


def test_runner_stop_leaves_no_process(core_v1, namespace, control_plane, tmp_path):
    runner = PodRunner(
        control_plane.api_client("admin"), home_base=tmp_path / "homes", log_dir=tmp_path / "logs", namespace=namespace
    ).start()
    try:
        core_v1.create_namespaced_pod(namespace, serving_pod("web", RUN_LOCALLY))
        ip = wait_for(lambda: pod_ip(core_v1, namespace, "web"), what="an IP from KWOK")
        wait_for(lambda: http_get(ip, "/"), timeout=60, what=f"serving on {ip}:{PORT}")
        local = running_for(runner, "web")
        started = processes._stat_fields(local.proc.pid)[19]
    finally:
        runner.stop()
    assert not alive(local.proc.pid, started)
    assert http_get(ip, "/") is None
    # The pod itself is untouched: only its stand-in process is gone.
    assert (
        kubernetes.client.CoreV1Api(control_plane.api_client("admin"))
        .read_namespaced_pod("web", namespace, _request_timeout=10)
        .status.phase
        == "Running"
    )


def test_runner_carries_on_after_the_api_server_restarts(core_v1, namespace, runner, control_plane):
    control_plane.restart_apiserver(downtime=1.0)
    wait_for(lambda: _api_ready(core_v1, namespace), timeout=60, what="the API server back")
    core_v1.create_namespaced_pod(namespace, serving_pod("after-restart", RUN_LOCALLY))
    ip = wait_for(lambda: pod_ip(core_v1, namespace, "after-restart"), what="an IP from KWOK")
    wait_for(lambda: http_get(ip, "/"), timeout=60, what=f"serving on {ip}:{PORT}")


def _api_ready(core_v1, namespace) -> bool:
    try:
        core_v1.list_namespaced_pod(namespace, _request_timeout=5)
        return True
    except Exception:  # noqa: BLE001 - connection refused while it starts
        return False
