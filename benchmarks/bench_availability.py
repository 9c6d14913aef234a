"""Availability API latency and freshness on a real API server at fleet scale.

Sets up 1,000 nodes × 8 GPUs and 20,000 pods on the local control plane
(nodes created with a Ready condition, pods created already bound with
``spec.nodeName`` so the scheduler is not the bottleneck), then serves two
endpoints side by side from one tornado app in this process:

- ours: the availability service's snapshot handler (inventory kept by its
  two watches, answer cached per version);
- naive: list nodes and pods on every request and compute the same per-type
  numbers with the same accounting code (what SkyPilot's ``show-gpus`` does).

``availability.p50_ms`` and ``availability.speedup_vs_naive`` are their
request latencies; ``availability.freshness_p99_ms`` is the time from
creating a pod bound to a GPU node to the moment our API shows one GPU less.
The JupyterHub token check is left out of both (it is a cached lookup).
"""

from __future__ import annotations

import asyncio
import json
import time

import orjson
from jupyterhub_mlops.availability.handlers import Changes, SnapshotHandler
from jupyterhub_mlops.availability.state import Availability
from jupyterhub_mlops.inventory import GpuInventory, InventoryWatcher
from jupyterhub_mlops.profiles import GpuProfiles
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from mlops_cluster.ports import free_port
from tornado import web
from tornado.httpclient import AsyncHTTPClient

from .harness import BenchContext, Figure, median, percentile

NAMESPACE = "bench-availability"
PROBE_NODE = "gpu-a100-0"  # a KWOK-managed node of the default fleet
PROBE_TYPE = "NVIDIA-A100-SXM4-80GB"


class OursHandler(SnapshotHandler):
    def get_current_user(self):
        return {"kind": "user", "name": "bench", "groups": []}


class NaiveHandler(web.RequestHandler):
    async def get(self):
        core: k8s.CoreV1Api = self.settings["core"]
        inventory = GpuInventory()
        for call, apply in (
            (core.list_node, inventory.replace_nodes),
            (core.list_pod_for_all_namespaces, inventory.replace_pods),
        ):
            resp = await call(_preload_content=False, _request_timeout=120)
            async with resp:
                apply(orjson.loads(await resp.read())["items"])
        for kind in ("nodes", "pods"):
            inventory.set_in_sync(kind, True)
        self.finish(json.dumps({"gpu_types": inventory.snapshot().gpu_types()}))


def bench_node(i: int) -> dict:
    name = f"bench-node-{i:04d}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                "nvidia.com/gpu.count": "8",
                "nvidia.com/gpu.memory": "81559",
            },
        },
        "status": {
            "capacity": {"cpu": "128", "memory": "1Ti", "pods": "110", "nvidia.com/gpu": "8"},
            "allocatable": {"cpu": "128", "memory": "1Ti", "pods": "110", "nvidia.com/gpu": "8"},
        },
    }


def ready_status() -> dict:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "BenchReady",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ]
        }
    }


def bench_pod(i: int, nodes: int) -> dict:
    limits = {"nvidia.com/gpu": "1"} if i % 4 == 0 else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-pod-{i:05d}"},
        "spec": {
            "nodeName": f"bench-node-{i % nodes:04d}",
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": limits},
                }
            ],
        },
    }


async def gather_limited(coros, limit: int = 48) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro):
        async with semaphore:
            await coro

    await asyncio.gather(*(one(c) for c in coros))


async def ignore_conflict(coro) -> None:
    try:
        resp = await coro
        resp.release()
    except k8s.ApiException as exc:
        if exc.status != 409:
            raise


async def create_fleet(core: k8s.CoreV1Api, nodes: int, pods: int) -> None:
    try:
        await core.create_namespace({"metadata": {"name": NAMESPACE}}, _request_timeout=30)
    except k8s.ApiException as exc:
        if exc.status != 409:
            raise
    await gather_limited(
        ignore_conflict(core.create_node(bench_node(i), _preload_content=False, _request_timeout=60))
        for i in range(nodes)
    )
    await gather_limited(
        ignore_conflict(
            core.patch_node_status(f"bench-node-{i:04d}", ready_status(), _preload_content=False, _request_timeout=60)
        )
        for i in range(nodes)
    )
    while True:  # the default service account must exist before pods can be created
        try:
            await core.read_namespaced_service_account("default", NAMESPACE, _request_timeout=10)
            break
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
            await asyncio.sleep(0.2)
    await gather_limited(
        ignore_conflict(
            core.create_namespaced_pod(NAMESPACE, bench_pod(i, nodes), _preload_content=False, _request_timeout=60)
        )
        for i in range(pods)
    )


async def timed_get(http: AsyncHTTPClient, url: str) -> tuple[float, dict]:
    began = time.perf_counter()
    resp = await http.fetch(url, request_timeout=300)
    return (time.perf_counter() - began) * 1000, json.loads(resp.body)


async def free_of(http: AsyncHTTPClient, url: str) -> int:
    _, doc = await timed_get(http, url)
    return (doc.get("gpu_types") or {}).get(PROBE_TYPE, {}).get("free", -1)


async def measure(cp, nodes: int, pods: int, requests: int, naive_requests: int, probes: int):
    admin = await k8s_config.new_client_from_config(config_file=str(cp.kubeconfig("admin")))
    hub = await k8s_config.new_client_from_config(config_file=str(cp.kubeconfig("hub")))
    core = k8s.CoreV1Api(admin)
    began = time.monotonic()
    await create_fleet(core, nodes, pods)
    setup_s = time.monotonic() - began

    inventory = GpuInventory()
    availability = Availability(inventory, GpuProfiles())
    changes = Changes()
    watcher = InventoryWatcher(inventory, hub)
    watcher.on_change += [availability.settle, changes.notify]
    watcher.start()
    await watcher.wait_in_sync(timeout=300)
    port = free_port()
    prefix = "/services/gpu-availability/"
    app = web.Application(
        [(prefix + "api/v1/snapshot", OursHandler), ("/naive", NaiveHandler)],
        availability=availability,
        changes=changes,
        trusted_services=set(),
        service_name="gpu-availability",
        core=k8s.CoreV1Api(hub),
    )
    server = app.listen(port, "127.0.0.1")
    http = AsyncHTTPClient()
    ours_url = f"http://127.0.0.1:{port}{prefix}api/v1/snapshot"
    try:
        ours = [(await timed_get(http, ours_url))[0] for _ in range(requests)]
        naive = [(await timed_get(http, f"http://127.0.0.1:{port}/naive"))[0] for _ in range(naive_requests)]
        # Freshness: a pod bound to a GPU node, until our API shows one GPU less.
        freshness = []
        for i in range(probes):
            before = await free_of(http, ours_url)
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"probe-{i}"},
                "spec": {
                    "nodeName": PROBE_NODE,
                    "containers": [
                        {
                            "name": "c",
                            "image": "busybox",
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        }
                    ],
                },
            }
            t0 = time.perf_counter()
            resp = await core.create_namespaced_pod(NAMESPACE, pod, _preload_content=False, _request_timeout=30)
            resp.release()
            while await free_of(http, ours_url) != before - 1:
                await asyncio.sleep(0.002)
            freshness.append((time.perf_counter() - t0) * 1000)
            resp = await core.delete_namespaced_pod(
                f"probe-{i}",
                NAMESPACE,
                grace_period_seconds=0,
                _preload_content=False,
                _request_timeout=30,
            )
            resp.release()
            while await free_of(http, ours_url) != before:
                await asyncio.sleep(0.01)
    finally:
        server.stop()
        await watcher.stop()
        await hub.close()
        await admin.close()
    return ours, naive, freshness, setup_s


def cleanup(cp) -> None:
    cp.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
    cp.kubectl(
        "delete",
        "nodes",
        "-l",
        "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3",
        "--wait=false",
        check=False,
    )


def run(ctx: BenchContext) -> list[Figure]:
    nodes, pods = (100, 2_000) if ctx.quick else (1_000, 20_000)
    requests, naive_requests, probes = (100, 3, 10) if ctx.quick else (300, 10, 30)
    cp = ctx.control_plane()
    try:
        ours, naive, freshness, setup_s = asyncio.run(measure(cp, nodes, pods, requests, naive_requests, probes))
    finally:
        cleanup(cp)
    scale = f"{nodes} nodes x 8 GPUs, {pods} pods (set up in {setup_s:.0f}s)"
    return [
        Figure(
            "availability.p50_ms",
            median(ours),
            "ms",
            goal="<= 10",
            comparison=median(naive),
            comparison_label="list nodes+pods per request",
            note=f"median of {len(ours)} vs {len(naive)} requests; {scale}",
        ),
        Figure(
            "availability.speedup_vs_naive",
            median(naive) / median(ours),
            "x",
            goal=">= 100",
            note="naive p50 / ours p50, same run",
        ),
        Figure(
            "availability.freshness_p99_ms",
            percentile(freshness, 99),
            "ms",
            goal="<= 1000",
            note=f"pod created bound to a GPU node -> one GPU less in the API; {len(freshness)} probes",
        ),
    ]
