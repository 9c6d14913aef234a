"""Happy paths through the gateway with the real OpenSSH clients.

Each test reaches the user's own pod (its sshd runs the image's entrypoint on
the pod IP that KWOK gave the pod) and proves it: the pod name comes from the
pod's own environment, files land in that pod's home.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster


def test_exec_with_registered_key_runs_in_own_pod(clients, users):
    out = clients.run("alice", ["gw", "echo $MLOPS_POD_NAME; echo $((6*7))"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [users["alice"].pod.name, "42"]
    out = clients.run("bob", ["gw", "echo $MLOPS_POD_NAME"])
    assert out.stdout.strip() == users["bob"].pod.name, out.stderr


def test_sessions_get_the_notebooks_environment_home_and_gpus(clients, users, user_namespaces):
    u = users["alice"]
    out = clients.run("alice", ["gw", "echo $NVIDIA_VISIBLE_DEVICES $HOME $MLOPS_POD_NAMESPACE; pwd"])
    assert out.returncode == 0, out.stderr
    home = str(u.pod.dir / "home")
    # The session starts where the notebook works, not in the passwd entry's home.
    assert out.stdout.split() == ["GPU-alice-0", home, user_namespaces["alice"], home]


def test_the_notebooks_secrets_reach_sessions_but_never_sshds_command_line(clients, users):
    """Any process in the pod can read another's command line (ps); the hub token the
    sessions get must travel to sshd some other way (a private config file)."""
    u = users["alice"]
    secret = f"pod-token-of-{u.pod.name}"
    out = clients.run("alice", ["gw", "echo $JUPYTERHUB_API_TOKEN"])
    assert out.stdout.strip() == secret, out.stderr
    sshd_pid = int((u.pod.dir / "sshd" / "sshd.pid").read_text())
    # sshd shows its whole command line as its process title ("sshd: /usr/sbin/sshd -D ...")
    command_line = Path(f"/proc/{sshd_pid}/cmdline").read_bytes().decode().replace("\0", " ")
    assert secret not in command_line
    config = Path(re.search(r" -f (\S+)", command_line).group(1))
    assert config.stat().st_mode & 0o077 == 0, "only the notebook user may read it"
    assert not config.is_relative_to(u.pod.dir / "home"), "not left on the home volume"


def test_exec_with_hub_token_as_password(clients, users):
    out = clients.run("alice", ["gw", "echo $MLOPS_POD_NAME"], password=users["alice"].token)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == users["alice"].pod.name


def test_exit_status_and_stderr_come_back(clients):
    out = clients.run("alice", ["gw", "echo oops >&2; exit 3"])
    assert out.returncode == 3
    assert out.stderr.strip().endswith("oops")


def test_interactive_shell_with_pty_follows_window_resize(clients, users):
    import pexpect

    u = users["alice"]
    child = pexpect.spawn(
        "ssh", ["-F", str(clients.config_for(u)), "-tt", "gw"], dimensions=(24, 80), timeout=30, encoding="utf-8"
    )
    try:
        # The stand-in pod's sshd runs as root, whose home is the host's:
        # keep this shell out of its history file.
        child.sendline("unset HISTFILE; stty size; echo pod=$MLOPS_POD_NAME")
        child.expect(r"24 80")
        child.expect(f"pod={u.pod.name}")
        child.setwinsize(40, 132)  # SIGWINCH -> window-change through the gateway
        child.sendline("stty size")
        child.expect(r"40 132")
        child.sendline("exit 0")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_scp_up_and_down(clients, users, tmp_path):
    u = users["alice"]
    src = tmp_path / "up.bin"
    src.write_bytes(bytes(range(256)) * 4096)
    # Absolute paths: the stand-in pod's sshd runs as root, whose home is the
    # host's; in a real pod, relative paths land in the notebook's home.
    home = u.pod.dir / "home"
    out = clients.run("alice", [str(src), f"gw:{home}/uploaded.bin"], program="scp")
    assert out.returncode == 0, out.stderr
    assert (u.pod.dir / "home" / "uploaded.bin").read_bytes() == src.read_bytes()
    out = clients.run("alice", [f"gw:{home}/uploaded.bin", str(tmp_path / "down.bin")], program="scp")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "down.bin").read_bytes() == src.read_bytes()
    # Bob's pod never saw it.
    assert not (users["bob"].pod.dir / "home" / "uploaded.bin").exists()


def test_sftp_batch(clients, users, tmp_path):
    u = users["alice"]
    (tmp_path / "s.txt").write_text("via sftp\n")
    batch = tmp_path / "batch"
    home = u.pod.dir / "home"
    batch.write_text(
        f"cd {home}\nput {tmp_path / 's.txt'} sftp.txt\nls\nget alice-notebook.txt {tmp_path / 'got.txt'}\n"
    )
    out = clients.run("alice", ["-b", str(batch), "gw"], program="sftp")
    assert out.returncode == 0, out.stderr
    assert (u.pod.dir / "home" / "sftp.txt").read_text() == "via sftp\n"
    assert (tmp_path / "got.txt").read_text() == "the notebook of alice\n"
    assert "alice-notebook.txt" in out.stdout


def test_rsync_over_the_gateway(clients, users, tmp_path):
    import subprocess

    u = users["alice"]
    tree = tmp_path / "project"
    (tree / "sub").mkdir(parents=True)
    (tree / "train.py").write_text("print('hi')\n")
    (tree / "sub" / "data.csv").write_text("a,b\n1,2\n")
    ssh = f"ssh -F {clients.config_for(u)}"
    out = subprocess.run(
        ["rsync", "-a", "-e", ssh, f"{tree}/", f"gw:{u.pod.dir / 'home'}/project/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert (u.pod.dir / "home" / "project" / "sub" / "data.csv").read_text() == "a,b\n1,2\n"


def test_local_port_forward_reaches_own_notebook(clients, users):
    import subprocess
    import urllib.request

    from tests.ssh.ssh_harness import free_port, wait_port

    u = users["alice"]
    port = free_port()
    tunnel = subprocess.Popen(
        [
            "ssh",
            "-F",
            str(clients.config_for(u)),
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"127.0.0.1:{port}:notebook:8888",
            "gw",
        ],
        stderr=subprocess.PIPE,
    )
    try:
        wait_port("127.0.0.1", port, proc=tunnel)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert "alice-notebook.txt" in body
        assert "bob-notebook.txt" not in body
    finally:
        tunnel.terminate()
        tunnel.wait(10)


def test_proxyjump_reaches_own_pod_sshd_end_to_end(clients, users):
    u = users["alice"]
    out = clients.run("alice", ["pod", "echo $MLOPS_POD_NAME; echo $SSH_CONNECTION"])
    assert out.returncode == 0, out.stderr
    name, connection = out.stdout.splitlines()
    assert name == u.pod.name
    # The inner connection ends at the pod's sshd on the pod IP, port 2222.
    assert connection.split()[2:] == [u.pod.ip, "2222"]
    clients.gateway.wait_audit(event="channel", kind="proxyjump", user="alice", outcome="ok")


def test_ssh_activity_reaches_the_hub(clients, users, hub):
    import datetime

    before = datetime.datetime.now(datetime.timezone.utc)
    out = clients.run("bob", ["gw", "sleep 2; echo done"])
    assert out.returncode == 0, out.stderr

    def server_activity():
        model = hub.request("GET", "/users/bob")[1]
        ts = model["servers"][""]["last_activity"]
        return ts and datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")) >= before

    from tests.ssh.ssh_harness import wait_for

    wait_for(server_activity, timeout=20, what="bob's server last_activity to follow SSH use")


def test_audit_and_metrics_record_the_logins(clients, users, hub):
    import urllib.request

    clients.run("alice", ["gw", "true"])  # a login of this test's own, from 127.0.0.1
    rec = clients.gateway.wait_audit(
        event="login",
        outcome="ok",
        method="publickey",
        user="alice",
        source=lambda source: source.startswith("127.0.0.1:"),
    )
    assert rec["source"].rsplit(":", 1)[1].isdigit()
    req = urllib.request.Request(
        f"{hub.url}/services/ssh/metrics", headers={"Authorization": f"token {users['alice'].token}"}
    )
    text = urllib.request.urlopen(req, timeout=30).read().decode()
    assert 'jupyterhub_mlops_ssh_logins_total{method="publickey",outcome="ok"}' in text
    assert "jupyterhub_mlops_ssh_sessions" in text
    assert 'jupyterhub_mlops_ssh_channels_total{kind="exec"}' in text


def test_named_server_login_reaches_that_servers_pod(clients, users, user_namespaces, core_v1, ssh_namespace, tmp_path):
    from tests.ssh.ssh_harness import public_key_of, secret_keys, start_pod, stop

    gateway_key = public_key_of(secret_keys(core_v1, ssh_namespace)["gateway_ed25519_key"])
    pod = start_pod(core_v1, user_namespaces["alice"], "alice", gateway_key, tmp_path, server="gpu")
    try:
        out = clients.run("alice", ["-l", "alice.gpu", "gw", "echo $MLOPS_POD_NAME"])
        assert out.returncode == 0 and out.stdout.strip() == pod.name, out.stderr
        assert pod.name != users["alice"].pod.name
        clients.gateway.wait_audit(event="login", outcome="ok", login="alice.gpu", server="gpu")
    finally:
        stop(pod.proc)
        core_v1.delete_namespaced_pod(pod.name, user_namespaces["alice"])


def test_agent_forwarding_asked_for_is_not_given(clients, tmp_path):
    import os
    import subprocess

    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        from tests.ssh.ssh_harness import wait_for

        wait_for(sock.exists, timeout=10, what="ssh-agent's socket")
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        out = subprocess.run(
            [
                "ssh",
                "-F",
                str(clients.config_for(clients.users["alice"])),
                "-o",
                "ForwardAgent=yes",
                "-A",
                "gw",
                "echo agent=${SSH_AUTH_SOCK:-none}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    finally:
        agent.terminate()
        agent.wait(10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "agent=none"
