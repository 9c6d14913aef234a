"""The parts of a pod a local process needs from the kernel: a PID namespace shared by the
pod's containers, and a network namespace of its own. Real ``unshare``/``nsenter``, real
processes; no cluster."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlops_cluster import pod_network, service_proxy, shared_process_namespace

LIST_PROCESSES = """
import json, os, time
time.sleep(0.3)
seen = {}
for pid in filter(str.isdigit, os.listdir('/proc')):
    with open(f'/proc/{pid}/stat') as stat:
        seen[pid] = {'ppid': int(stat.read().rsplit(') ', 1)[1].split()[1]),
                     'cmd': open(f'/proc/{pid}/cmdline').read().replace(chr(0), ' ')}
print(json.dumps(seen))
"""


def container(name: str, argv: list[str], cwd: Path) -> dict:
    return {"name": name, "argv": argv, "env": {"PATH": "/usr/bin:/bin"}, "cwd": str(cwd)}


def test_containers_share_a_pid_namespace_as_in_a_pod(tmp_path, capfd):
    """What Katib's collector relies on: pid 1 is the pause process, each container's
    first process has parent 0, and a pid written by one is the pid the other sees."""
    main = container("main", ["sh", "-c", f"sleep 1 && echo completed > {tmp_path}/$$.pid"], tmp_path)
    side = container("side", [sys.executable, "-c", LIST_PROCESSES], tmp_path)
    assert shared_process_namespace.run([main, side]) == 0
    seen = json.loads(capfd.readouterr().out.strip().splitlines()[-1])
    assert seen["1"]["cmd"].startswith("sleep infinity")
    top = {pid: p["cmd"] for pid, p in seen.items() if p["ppid"] == 0 and pid != "1"}
    (main_pid,) = [pid for pid, cmd in top.items() if "echo completed" in cmd]
    assert any("python" in cmd for cmd in top.values())
    assert (tmp_path / f"{main_pid}.pid").read_text() == "completed\n"


def test_the_pod_fails_with_the_first_container_that_fails(tmp_path):
    ok = container("ok", ["true"], tmp_path)
    failing = container("failing", ["sh", "-c", "exit 3"], tmp_path)
    assert shared_process_namespace.run([ok, failing]) == 3


@pytest.fixture
def isolated_servers(tmp_path):
    """Two HTTP servers on 0.0.0.0:8765, each in a network namespace of its own."""
    procs = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "who").write_text(name)
        procs.append(
            subprocess.Popen(
                pod_network.isolated([sys.executable, "-m", "http.server", "8765", "--bind", "0.0.0.0"]),
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def get_who(sock: socket.socket) -> str:
    with sock:
        sock.sendall(b"GET /who HTTP/1.0\r\n\r\n")
        return sock.makefile("rb").read().split(b"\r\n\r\n", 1)[1].decode()


def test_pods_in_their_own_network_bind_the_same_port_and_are_reached_apart(isolated_servers, tmp_path):
    registry = tmp_path / "registry"
    for ip, proc in zip(("127.200.0.1", "127.200.0.2"), isolated_servers, strict=True):
        pod_network.register(registry, ip, proc.pid)
    answers = []
    for ip in ("127.200.0.1", "127.200.0.2"):
        pid = pod_network.namespace_pid(registry, ip)
        deadline = time.monotonic() + 10
        while True:
            try:
                answers.append(get_who(pod_network.connect(pid, 8765)))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    assert answers == ["one", "two"]
    pod_network.unregister(registry, "127.200.0.1")
    assert pod_network.namespace_pid(registry, "127.200.0.1") is None


def test_the_proxy_reads_service_names_as_cluster_dns_does():
    assert service_proxy.split_service_host("exp-random.alice") == ("exp-random", "alice")
    assert service_proxy.split_service_host("exp-random.alice.svc") == ("exp-random", "alice")
    assert service_proxy.split_service_host("exp-random.alice.svc.cluster.local") == ("exp-random", "alice")
    assert service_proxy.split_service_host("example.org.uk.com") is None
    assert service_proxy.split_service_host("localhost") is None


def test_the_proxy_maps_a_service_port_to_the_pods_target_port():
    service = {
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 6789, "targetPort": "api"}, {"port": 80, "targetPort": 8080}]},
    }
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "api", "containerPort": 6790}]}]},
    }
    assert service_proxy.target_port(service, pod, 6789) == 6790
    assert service_proxy.target_port(service, pod, 80) == 8080
    with pytest.raises(service_proxy.NoEndpoint, match="no port 81"):
        service_proxy.target_port(service, pod, 81)


def test_a_quick_main_container_waits_until_its_sidecar_looks(tmp_path, capfd):
    """Katib's collector looks for the training process once, as it starts: a trial as
    quick as ``echo loss=0.3`` must still be there to be found."""
    main = container("main", ["sh", "-c", f"echo completed > {tmp_path}/$$.pid"], tmp_path)
    side = container(
        "side",
        [sys.executable, "-c", "print('watching', flush=True)\n" + LIST_PROCESSES.replace("time.sleep(0.3)", "")],
        tmp_path,
    )
    assert shared_process_namespace.run([main, side]) == 0
    seen = json.loads(capfd.readouterr().out.strip().splitlines()[-1])
    (main_pid,) = [pid for pid, p in seen.items() if p["ppid"] == 0 and "echo completed" in p["cmd"]]
    assert (tmp_path / f"{main_pid}.pid").read_text() == "completed\n"
