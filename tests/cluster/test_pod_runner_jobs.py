"""The pod runner playing the kubelet for job pods: exit codes decide the phase, the
restart policy restarts in place, the API's pods/log is what the process printed,
volumes are the pod's own, and Service names in the environment reach pod IPs.

A namespace labelled ``jupyterhub-mlops.local/run-locally=true`` opts in every
pod, as a job's pods (created by a controller) are opted in.
"""

from __future__ import annotations

import base64
import sys
import textwrap

import pytest
from mlops_cluster.pod_runner import PodRunner

from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

RUN_LOCALLY = "jupyterhub-mlops.local/run-locally"


@pytest.fixture
def job_namespace(core_v1, namespace):
    core_v1.patch_namespace(namespace, {"metadata": {"labels": {RUN_LOCALLY: "true"}}})
    return namespace


@pytest.fixture
def runner(control_plane, job_namespace, tmp_path):
    runner = PodRunner(
        control_plane.api_client("admin"),
        home_base=tmp_path / "homes",
        log_dir=tmp_path / "logs",
        namespace=job_namespace,
        restart_backoff=0.2,
        max_restart_backoff=1.0,
    ).start()
    yield runner
    runner.stop()


def python_pod(
    name: str, script: str, restart_policy: str = "Never", env: list | None = None, labels: dict | None = None, **spec
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.12-slim",
                    "command": [sys.executable, "-c", textwrap.dedent(script)],
                    "env": env or [],
                }
            ],
            **spec,
        },
    }


def finished_pod(core_v1, namespace: str, name: str):
    def done():
        pod = core_v1.read_namespaced_pod(name, namespace, _request_timeout=10)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    return wait_for(done, timeout=60, what=f"pod {name} to finish")


def log_of(core_v1, namespace: str, name: str, **kwargs) -> list[str]:
    return core_v1.read_namespaced_pod_log(name, namespace, _request_timeout=10, **kwargs).splitlines()


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"), (3, "Failed", "Error")])
def test_the_exit_code_decides_the_phase_and_the_log_is_what_it_printed(
    core_v1, job_namespace, runner, code, phase, reason
):
    core_v1.create_namespaced_pod(
        job_namespace,
        python_pod(
            "job",
            f"""
        print("hello from the job")
        print("done", flush=True)
        raise SystemExit({code})
    """,
        ),
    )
    pod = finished_pod(core_v1, job_namespace, "job")
    assert pod.status.phase == phase
    (status,) = pod.status.container_statuses
    assert status.state.terminated.exit_code == code
    assert status.state.terminated.reason == reason
    assert status.restart_count == 0
    assert log_of(core_v1, job_namespace, "job") == ["hello from the job", "done"]


def test_on_failure_restarts_in_place_and_counts_the_restarts(core_v1, job_namespace, runner):
    # Fails twice, then succeeds: the count survives restarts in an emptyDir, as on a node.
    script = """
        import os, pathlib, sys
        count = pathlib.Path("/scratch/attempts")
        n = int(count.read_text()) if count.exists() else 0
        count.write_text(str(n + 1))
        print(f"attempt {n}", flush=True)
        sys.exit(0 if n == 2 else 7)
    """
    pod = python_pod("flaky", script, restart_policy="OnFailure", volumes=[{"name": "scratch", "emptyDir": {}}])
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    core_v1.create_namespaced_pod(job_namespace, pod)

    done = finished_pod(core_v1, job_namespace, "flaky")
    assert done.status.phase == "Succeeded"
    (status,) = done.status.container_statuses
    assert status.restart_count == 2
    assert status.last_state.terminated.exit_code == 7
    assert log_of(core_v1, job_namespace, "flaky") == ["attempt 2"]
    assert log_of(core_v1, job_namespace, "flaky", previous=True) == ["attempt 1"]


def test_a_crash_looping_pod_stays_running_with_a_growing_restart_count(core_v1, job_namespace, runner):
    core_v1.create_namespaced_pod(
        job_namespace, python_pod("crasher", "raise RuntimeError('boom')", restart_policy="OnFailure")
    )

    def restarted_twice():
        pod = core_v1.read_namespaced_pod("crasher", job_namespace, _request_timeout=10)
        statuses = pod.status.container_statuses or []
        return pod if statuses and statuses[0].restart_count >= 2 else None

    pod = wait_for(restarted_twice, timeout=60, what="two restarts")
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 1


def test_config_map_volumes_and_working_dir_are_the_pods_own(core_v1, job_namespace, runner):
    core_v1.create_namespaced_config_map(
        job_namespace,
        {
            "metadata": {"name": "code"},
            "data": {"greeting.txt": "hi from a configmap"},
            "binaryData": {"blob.bin": base64.b64encode(b"\x00\x01").decode()},
        },
    )
    script = """
        import os, pathlib
        print(pathlib.Path("/etc/code/greeting.txt").read_text())
        print(len(pathlib.Path("/etc/code/blob.bin").read_bytes()))
        print(os.environ["WORK"] == os.path.join(os.getcwd(), "dir"))
        print(os.getcwd())
    """
    pods = []
    for name in ("one", "two"):
        pod = python_pod(
            name,
            script,
            env=[{"name": "WORK", "value": "/workspace/dir"}],
            volumes=[{"name": "code", "configMap": {"name": "code"}}, {"name": "work", "emptyDir": {}}],
        )
        container = pod["spec"]["containers"][0]
        container["volumeMounts"] = [
            {"name": "code", "mountPath": "/etc/code"},
            {"name": "work", "mountPath": "/workspace"},
        ]
        container["workingDir"] = "/workspace"
        pods.append(pod)
    # WORK names a path inside a mount: it is rewritten as the mount is.
    for pod in pods:
        core_v1.create_namespaced_pod(job_namespace, pod)
    folders = set()
    for name in ("one", "two"):
        assert finished_pod(core_v1, job_namespace, name).status.phase == "Succeeded"
        *printed, cwd = log_of(core_v1, job_namespace, name)
        assert printed == ["hi from a configmap", "2", "True"]
        assert not cwd.startswith("/workspace")
        folders.add(cwd)
    assert len(folders) == 2  # each pod has its own emptyDir


def test_a_missing_config_map_is_reported_and_not_run(core_v1, job_namespace, runner):
    pod = python_pod("orphan", "print('never')", volumes=[{"name": "code", "configMap": {"name": "absent"}}])
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "code", "mountPath": "/c"}]
    core_v1.create_namespaced_pod(job_namespace, pod)

    def failure_event():
        events = core_v1.list_namespaced_event(
            job_namespace, field_selector="involvedObject.name=orphan", _request_timeout=10
        ).items
        return next((e for e in events if e.reason == "LocalProcessFailed"), None)

    event = wait_for(failure_event, timeout=60, what="a LocalProcessFailed event")
    assert f"ConfigMap {job_namespace}/absent not found" in event.message


def test_master_addr_names_a_service_and_reaches_the_master_pod(core_v1, job_namespace, runner):
    """torch.distributed's env:// rendezvous: the worker connects to MASTER_ADDR:MASTER_PORT.

    The worker is created first and its Service last: it waits (as the operator's
    init container would) until the name resolves to the running master pod."""
    env = [{"name": "MASTER_ADDR", "value": "job-master-0"}, {"name": "MASTER_PORT", "value": "23456"}]
    master = python_pod(
        "job-master-0",
        """
        import os, socket
        server = socket.create_server((os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])))
        print("master listening on", os.environ["MASTER_ADDR"], flush=True)
        connection, _ = server.accept()
        print("master got:", connection.recv(100).decode(), flush=True)
        connection.sendall(b"welcome")
    """,
        env=env,
        labels={"role": "master"},
    )
    worker = python_pod(
        "job-worker-0",
        """
        import os, socket, time
        for _ in range(100):
            try:
                connection = socket.create_connection(
                    (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])), timeout=5)
                break
            except ConnectionRefusedError:
                time.sleep(0.2)
        connection.sendall(b"rank 1 here")
        print("worker got:", connection.recv(100).decode(), flush=True)
    """,
        env=env,
    )
    core_v1.create_namespaced_pod(job_namespace, worker)
    core_v1.create_namespaced_pod(job_namespace, master)
    core_v1.create_namespaced_service(
        job_namespace,
        {
            "metadata": {"name": "job-master-0"},
            "spec": {"clusterIP": "None", "selector": {"role": "master"}, "ports": [{"port": 23456}]},
        },
    )

    for name in ("job-master-0", "job-worker-0"):
        assert finished_pod(core_v1, job_namespace, name).status.phase == "Succeeded"
    master_ip = core_v1.read_namespaced_pod("job-master-0", job_namespace).status.pod_ip
    assert log_of(core_v1, job_namespace, "job-master-0") == [
        f"master listening on {master_ip}",
        "master got: rank 1 here",
    ]
    assert log_of(core_v1, job_namespace, "job-worker-0") == ["worker got: welcome"]
