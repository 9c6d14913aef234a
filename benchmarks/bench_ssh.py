"""SSH gateway: scp throughput through the gateway vs directly, and keystroke echo.

Side by side in one run, against the same real sshd (the image's entrypoint on
a KWOK pod's loopback IP), with the real OpenSSH scp:

- ``ssh.relay_ratio``: 256 MiB scp through the gateway's relay / directly (goal >= 0.5)
- ``ssh.proxyjump_ratio``: the same with ``scp -J`` through the gateway / directly (goal >= 0.8)
- ``ssh.echo_p99_ms_100``: keystroke echo round trip, p99, with 100 interactive
  sessions open at once through the gateway (asyncssh clients; goal <= 20),
  compared with the same 100 sessions straight to the sshd
- ``ssh.gateway_kib_per_session``: the gateway's resident memory per open session
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import time
from pathlib import Path

import asyncssh

from .harness import BenchContext, Figure, median, percentile

MIB = 1024 * 1024


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _scp_seconds(argv: list[str]) -> float:
    began = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"scp failed: {out.stderr.strip()}")
    return time.perf_counter() - began


async def _echo_samples(
    host: str,
    port: int,
    username: str,
    key,
    sessions: int,
    keystrokes: int,
    gateway_pid: int | None = None,
) -> tuple[list[float], list[tuple], str]:
    """Open ``sessions`` PTY shells at once; time ``keystrokes`` echoes in each.

    Also says how busy this client process (and the gateway) were while typing,
    in share of one core: a saturated client would distort the figure.
    """
    ramp = asyncio.Semaphore(8)  # sshd's MaxStartups drops bursts of unauthenticated logins
    opened: list[tuple] = []

    async def open_one():
        async with ramp:
            # One cipher for both sides: the gateway offers only AES-GCM.
            conn = await asyncssh.connect(
                host,
                port,
                username=username,
                client_keys=[key],
                known_hosts=None,
                config=[],
                agent_path=None,
                encryption_algs=["aes128-gcm@openssh.com"],
            )
            writer, reader, _ = await conn.open_session(term_type="xterm", term_size=(80, 24), encoding=None)
            writer.write(b"unset HISTFILE; PS1='$ '\n")
            await asyncio.sleep(0.5)
            opened.append((conn, writer, reader))

    await asyncio.gather(*(open_one() for _ in range(sessions)))
    for _, _, reader in opened:  # drop the prompts
        try:
            await asyncio.wait_for(reader.read(65536), 0.2)
        except asyncio.TimeoutError:
            pass

    samples: list[float] = []

    async def type_in(writer, reader, offset: float):
        await asyncio.sleep(offset)
        for _ in range(keystrokes):
            began = time.perf_counter()
            writer.write(b"x")
            got = b""
            while b"x" not in got:
                got += await asyncio.wait_for(reader.read(64), 10)
            samples.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(0.5)  # 100 users typing 2 keys per second each, all at once

    # The measuring client's own garbage collection would stall every
    # session's sample at once, through the gateway or not: set up, then freeze.
    gc.collect()
    gc.freeze()
    wall, client_cpu = time.perf_counter(), time.process_time()
    gateway_cpu = _cpu_s(gateway_pid) if gateway_pid else 0.0
    await asyncio.gather(*(type_in(w, r, i * 0.5 / sessions) for i, (_, w, r) in enumerate(opened)))
    wall = time.perf_counter() - wall
    gc.unfreeze()
    busy = f"client {(time.process_time() - client_cpu) / wall:.0%} of a core"
    if gateway_pid:
        busy += f", gateway {(_cpu_s(gateway_pid) - gateway_cpu) / wall:.0%}"
    return samples, opened, busy


async def _close(opened) -> None:
    for conn, _, _ in opened:
        conn.close()


def run(ctx: BenchContext) -> list[Figure]:
    import kubernetes
    from jupyterhub_mlops.ssh.gateway_keys import GATEWAY_KEY, load_file_keys
    from jupyterhub_mlops.ssh.keystore import FileKeyStore

    from tests.ssh.ssh_harness import Gateway, free_port, start_pod, stop, wait_for

    size_mib = 32 if ctx.quick else 256
    sessions = 20 if ctx.quick else 100
    keystrokes = 5 if ctx.quick else 20
    cp = ctx.control_plane()
    core_v1 = kubernetes.client.CoreV1Api(cp.api_client("admin"))
    namespace = f"bench-ssh-{os.getpid()}"
    core_v1.create_namespace({"metadata": {"name": namespace}})
    work = ctx.artifacts / "ssh"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    pod = gateway = None
    try:
        wait_for(
            lambda: core_v1.list_namespaced_service_account(namespace).items,
            timeout=30,
            what="the default service account",
        )
        data_dir = work / "gateway-data"
        gw_keys = load_file_keys(data_dir)
        gw_pub = gw_keys[GATEWAY_KEY].export_public_key().decode().strip()
        user_key = asyncssh.generate_private_key("ssh-ed25519", comment="alice@bench")
        key_path = work / "alice_ed25519"
        user_key.write_private_key(str(key_path))
        os.chmod(key_path, 0o600)
        store = FileKeyStore(data_dir / "registered_keys.json")
        asyncio.run(store.add("alice", user_key.export_public_key().decode()))
        # alice's key reaches the pod's sshd as in production: the gateway
        # pushes it before each ProxyJump (part of the -J figure).
        pod = start_pod(core_v1, namespace, "alice", gw_pub, work)

        port, api_port = free_port(), free_port()
        config = work / "gateway_config.py"
        config.write_text(
            f'c.SSHGatewayApp.ip = "127.0.0.1"\nc.SSHGatewayApp.port = {port}\n'
            f'c.SSHGatewayApp.storage = "file"\nc.SSHGatewayApp.data_dir = "{data_dir}"\n'
            f'c.SSHGatewayApp.pod_namespace = "{namespace}"\n'
            f'c.SSHGatewayApp.kubeconfig = "{cp.kubeconfig("hub")}"\n'
            'c.SSHGatewayApp.pod_user = "root"\nc.SSHGatewayApp.idle_timeout = 600\n'
            f'c.SSHGatewayApp.audit_log_file = "{work / "audit.jsonl"}"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
        env.update(
            JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{api_port}",
            PYTHONPATH=os.pathsep.join([str(ctx.repo / "spawner"), env.get("PYTHONPATH", "")]),
        )
        gateway = Gateway(
            port=port,
            api_port=api_port,
            config=config,
            audit_file=work / "audit.jsonl",
            env=env,
            log=work / "gateway.log",
        )
        gateway.start()

        src = work / "payload.bin"
        with open(src, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(MIB))
        common = [
            "-q",
            "-i",
            str(key_path),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ]
        direct = ["scp", *common, "-P", "2222", str(src), f"root@{pod.ip}:/dev/null"]
        relay = ["scp", *common, "-P", str(port), str(src), "alice@127.0.0.1:/dev/null"]
        jump = [
            "scp",
            *common,
            "-o",
            f"ProxyCommand=ssh {' '.join(common)} -p {port} -W %h:%p alice@127.0.0.1",
            "-P",
            "2222",
            str(src),
            "root@alice:/dev/null",
        ]
        _scp_seconds(jump)  # warm-up: page cache, first logins, the gateway's imports
        rounds = 1 if ctx.quick else 5
        times: dict[str, list[float]] = {"direct": [], "relay": [], "jump": []}
        gateway_cpu: dict[str, list[float]] = {"direct": [], "relay": [], "jump": []}
        for _ in range(rounds):  # interleaved, so a burst of load hits all three alike
            for name, argv in (("direct", direct), ("relay", relay), ("jump", jump)):
                cpu_before = _cpu_s(gateway.proc.pid)
                times[name].append(_scp_seconds(argv))
                gateway_cpu[name].append(_cpu_s(gateway.proc.pid) - cpu_before)
        # The machine is shared: each round's ratio compares runs seconds apart,
        # and the median of the rounds drops the ones a neighbour's burst spoiled.
        ratio = {
            name: median([d / t for d, t in zip(times["direct"], times[name], strict=True)])
            for name in ("relay", "jump")
        }
        mbps = {k: size_mib / median(v) for k, v in times.items()}

        rss_before = _rss_kib(gateway.proc.pid)
        samples, rss_after, busy = asyncio.run(_echo_through(port, user_key, sessions, keystrokes, gateway.proc.pid))
        direct_samples, direct_busy = asyncio.run(_echo_direct(pod.ip, user_key, sessions, keystrokes))
    finally:
        (work / "payload.bin").unlink(missing_ok=True)
        if gateway is not None:
            gateway.stop()
        if pod is not None:
            stop(pod.proc)
        core_v1.delete_namespace(namespace)
    kib_per_session = (rss_after - rss_before) / sessions
    note = (
        f"{size_mib} MiB scp to /dev/null, median of {rounds} interleaved rounds "
        "(OpenSSH's default cipher to the sshd; the gateway offers AES-GCM)"
    )
    return [
        Figure(
            "ssh.relay_ratio",
            ratio["relay"],
            "ratio",
            goal=">= 0.5",
            note=f"{note}: relay {mbps['relay']:.0f} MiB/s, direct {mbps['direct']:.0f} MiB/s; "
            f"gateway CPU {median(gateway_cpu['relay']):.2f} s per transfer",
        ),
        Figure(
            "ssh.proxyjump_ratio",
            ratio["jump"],
            "ratio",
            goal=">= 0.8",
            note=f"{note}: -J {mbps['jump']:.0f} MiB/s, direct {mbps['direct']:.0f} MiB/s; "
            f"gateway CPU {median(gateway_cpu['jump']):.2f} s per transfer",
        ),
        Figure(
            "ssh.relay_mib_s",
            mbps["relay"],
            "MiB/s",
            comparison=mbps["direct"],
            comparison_label="direct to sshd",
            note=note,
        ),
        Figure(
            "ssh.echo_p99_ms_100",
            percentile(samples, 99),
            "ms",
            goal="<= 20",
            comparison=percentile(direct_samples, 99),
            comparison_label="direct to sshd",
            note=f"{sessions} PTY sessions at once, {len(samples)} keystrokes, "
            f"p50 {percentile(samples, 50):.1f} ms (direct "
            f"{percentile(direct_samples, 50):.1f} ms); while typing: {busy} "
            f"(direct: {direct_busy})",
        ),
        Figure(
            "ssh.gateway_kib_per_session",
            kib_per_session,
            "KiB",
            note=f"gateway RSS growth with {sessions} sessions open ({rss_before} -> {rss_after} KiB)",
        ),
    ]


async def _echo_through(
    port: int, key, sessions: int, keystrokes: int, gateway_pid: int
) -> tuple[list[float], int, str]:
    """Echo samples through the gateway, its RSS (KiB) with all sessions open, CPU shares."""
    samples, opened, busy = await _echo_samples("127.0.0.1", port, "alice", key, sessions, keystrokes, gateway_pid)
    rss = _rss_kib(gateway_pid)
    await _close(opened)
    return samples, rss, busy


async def _echo_direct(ip: str, key, sessions: int, keystrokes: int) -> tuple[list[float], str]:
    samples, opened, busy = await _echo_samples(ip, 2222, "root", key, sessions, keystrokes)
    await _close(opened)
    return samples, busy
