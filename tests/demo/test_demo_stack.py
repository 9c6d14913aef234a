"""`make demo` end to end: the stack of `python -m demo`, driven over HTTP.

A user logs in through the proxy with the demo password, starts a server
with the Hub's REST API, and gets JupyterLab from the spawned server: a real
jupyterhub-singleuser that the pod runner started on the IP KWOK gave the
GPUKubeSpawner pod. Then SIGINT (Ctrl-C) must stop every process of the stack.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import kubernetes
import pytest
import requests
from mlops_cluster import processes

from tests.demo.demo_stack import running_demo
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.slow


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int, started: str) -> bool:
    fields = processes._stat_fields(pid)
    return bool(fields) and fields[0] != "Z" and fields[19] == started


@pytest.fixture
def demo(tmp_path):
    with running_demo(tmp_path) as demo:
        yield demo


def log_in(base: str, user: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}hub/login", timeout=30).raise_for_status()
    response = session.post(
        f"{base}hub/login",
        timeout=30,
        allow_redirects=False,
        data={"username": user, "password": password, "_xsrf": session.cookies.get("_xsrf")},
    )
    assert response.status_code == 302, (response.status_code, response.text[:500])
    session.headers["X-XSRFToken"] = session.cookies.get("_xsrf")
    return session


# Two starts of the whole stack and a spawn, each given 240 s by its own wait: about 170 s
# on an idle machine, but more than the suite's 300 s beside another worker's clusters.
@pytest.mark.timeout(900)
def test_user_gets_jupyterlab_from_a_pod_run_locally_and_ctrl_c_leaves_nothing(demo, tmp_path):
    base, password, run_dir, proc = demo.url, demo.password, demo.run_dir, demo.process

    refused = requests.post(
        f"{base}hub/login",
        timeout=30,
        allow_redirects=False,
        data={"username": "alice", "password": "not-the-password"},
    )
    assert refused.status_code != 302, "a wrong password must not log in"

    alice = log_in(base, "alice", password)
    response = alice.post(f"{base}hub/api/users/alice/server", timeout=60)
    assert response.status_code in (201, 202), response.text

    def server_ready():
        user = alice.get(f"{base}hub/api/users/alice", timeout=30).json()
        server = user.get("servers", {}).get("")
        return server if server and server["ready"] else None

    wait_for(server_ready, timeout=240, interval=1, what="alice's server to be ready")

    # JupyterLab, through the proxy and the single-user OAuth flow.
    lab = alice.get(f"{base}user/alice/lab", timeout=60)
    assert lab.status_code == 200
    assert lab.url == f"{base}user/alice/lab"
    config = json.loads(lab.text.split('id="jupyter-config-data"', 1)[1].split(">", 1)[1].split("</script>", 1)[0])
    assert config["appName"] == "JupyterLab"
    assert config["baseUrl"] == "/user/alice/"
    # ... with the suite's server extension answering as alice.
    info = alice.get(f"{base}user/alice/mlops/api/v1/info", timeout=30)
    assert info.status_code == 200 and info.json()["user"] == "alice"

    # The server is GPUKubeSpawner's pod, served on the pod's own IP.
    admin = kubernetes.config.new_client_from_config(
        config_file=str(run_dir / "cluster" / "kubeconfigs" / "admin.yaml")
    )
    pod = kubernetes.client.CoreV1Api(admin).read_namespaced_pod("jupyter-alice", "mlops-alice", _request_timeout=10)
    assert pod.metadata.labels["jupyterhub-mlops/user"] == "alice"
    direct = requests.get(f"http://{pod.status.pod_ip}:8888/user/alice/api", timeout=10)
    assert direct.status_code == 200 and "version" in direct.json()

    # The notebook side: GPU availability from the hub's service with alice's own
    # token, and a PyTorchJob submitted through the REST API lands in alice's
    # namespace under her service account (the pod runner hands the process a
    # token of the pod's service account, as the kubelet's mount would).
    xsrf = {"X-XSRFToken": alice.cookies.get("_xsrf", path="/user/alice/") or ""}
    gpus = alice.get(f"{base}user/alice/mlops/api/v1/gpus", timeout=30)
    assert gpus.status_code == 200, gpus.text
    a100 = gpus.json()["gpu_types"]["NVIDIA-A100-SXM4-80GB"]
    assert a100["total"] == 16 and a100["free"] < 16  # seeded pods of other users hold some
    submitted = alice.post(
        f"{base}user/alice/mlops/api/v1/jobs/pytorchjobs",
        timeout=60,
        headers=xsrf,
        json={
            "name": "demo-train",
            "command": ["python", "train.py"],
            "replicas": 1,
            "gpus": 1,
            "snapshot": None,
            "if_not_fits": "queue",
        },
    )
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["namespace"] == "mlops-alice"
    listed = alice.get(f"{base}user/alice/mlops/api/v1/jobs", timeout=30).json()
    assert "demo-train" in {job["name"] for job in listed["jobs"]}

    # ssh -p <port> alice@127.0.0.1 lands in a shell of that same server,
    # with a key registered through the gateway's API (hub token auth).
    token = alice.post(f"{base}hub/api/users/alice/tokens", json={"note": "ssh test"}, timeout=30).json()["token"]
    key = run_dir.parent / "alice_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    registered = requests.post(
        f"{base}services/ssh/api/keys",
        timeout=30,
        headers={"Authorization": f"token {token}"},
        json={"key": key.with_suffix(".pub").read_text()},
    )
    assert registered.status_code == 201, registered.text
    shell = subprocess.run(
        [
            "ssh",
            "-i",
            str(key),
            "-p",
            str(demo.ssh_port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "alice@127.0.0.1",
            "echo $JUPYTERHUB_USER:$HOME",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0, shell.stderr
    # The notebook's own environment: its user and its home (under the demo's homes/).
    user, home = shell.stdout.strip().split(":")
    assert user == "alice" and home == str(run_dir / "homes" / "alice"), shell.stdout
    # ssh -J with the same key: the pod (in namespace mlops-alice, while the
    # gateway keeps keys elsewhere) trusts it because the gateway pushes it.
    opts = [
        "-i",
        str(key),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
    ]
    jump = subprocess.run(
        [
            "ssh",
            *opts,
            "-o",
            f"ProxyCommand=ssh {' '.join(opts)} -p {demo.ssh_port} -W %h:%p alice@127.0.0.1",
            "-p",
            "2222",
            "root@alice",
            "echo $JUPYTERHUB_USER",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert jump.returncode == 0 and jump.stdout.strip() == "alice", jump.stderr

    stack = {pid: started for pid, started in processes.descendants(proc.pid).items()}
    assert any("jupyterhub-singleuser" in cmdline(pid) for pid in stack), [cmdline(pid) for pid in stack]
    assert any("configurable-http-proxy" in cmdline(pid) for pid in stack)

    # Other users' pods hold GPUs (the availability figures are not all "free").
    others = kubernetes.client.CoreV1Api(admin).list_namespaced_pod("demo-others", _request_timeout=10).items
    assert len(others) >= 3
    assert all(p.status.phase == "Running" and p.spec.node_name for p in others)

    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(120) == 0

    def leftovers():
        return [cmdline(pid) for pid, started in stack.items() if alive(pid, started)]

    try:
        wait_for(lambda: not leftovers(), timeout=10, what="the stack's processes to be gone")
    except TimeoutError:
        pytest.fail(f"processes left after Ctrl-C: {leftovers()}")

    # `make demo` again, in the same run folder: it starts afresh and lets alice in.
    # (How long that takes is benchmarks/bench_demo.py's demo.second_start_s.)
    with running_demo(tmp_path, name="demo-again") as again:
        assert again.run_dir == run_dir
        alice = log_in(again.url, "alice", again.password)
        assert alice.get(f"{again.url}hub/api/users/alice", timeout=30).json()["name"] == "alice"
