"""Watch recovery: kube-apiserver restarts mid-run.

A dedicated control plane (its own run dir) so the restart does not disturb
the session cluster other tests use. The inventory's loop runs in a thread of
its own because the control plane must be restarted from the main thread
(its processes are tied to the thread that started them). While the API
server is down the inventory must say "unknown" (``gpu_types() is None``),
and afterwards converge to the brute-force truth again. (A new API server's
watch cache starts at the current revision, so resuming from the old one
usually gets 410 Gone: this run also exercises the relist path.)
"""

from __future__ import annotations

import asyncio
import threading
import time

import kubernetes
import pytest
from gpu_oracle import recompute
from jupyterhub_mlops.inventory import GpuInventory, InventoryWatcher
from kubernetes_asyncio import config as async_config
from mlops_cluster import ControlPlane
from mlops_testing import create_namespace, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


class InventoryThread:
    """An inventory and its watcher on an event loop in a background thread;
    records every in_sync value it sees, every 20 ms."""

    def __init__(self, kubeconfig: str):
        self.loop = asyncio.new_event_loop()
        self.inventory = GpuInventory()
        self.seen_unknown = False
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._start(kubeconfig))

    def _run(self, coro, timeout=60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self, kubeconfig: str):
        self.api = await async_config.new_client_from_config(config_file=kubeconfig)
        self.watcher = InventoryWatcher(
            self.inventory, self.api, request_timeout=5, max_backoff=0.5
        )
        self.watcher.start()
        self._sampler = asyncio.ensure_future(self._sample())
        await self.watcher.wait_in_sync()

    async def _sample(self):
        while True:
            if self.inventory.snapshot().gpu_types() is None:
                self.seen_unknown = True
            await asyncio.sleep(0.02)

    def view(self):
        async def take():
            snap = self.inventory.snapshot()
            free = {v.record.name: dict(v.free) for v in snap.nodes if v.unavailable_reason is None}
            types = snap.gpu_types()
            return free, types and {
                t: {"total": e["total"], "free": e["free"]}
                for t, e in types.items()
                if e["total"] > 0
            }

        return self._run(take())

    def close(self):
        async def stop():
            self._sampler.cancel()
            await self.watcher.stop()
            await self.api.close()

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def gpu_pod(name: str, gpus: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
        },
    }


def test_counts_converge_after_apiserver_restart_and_are_unknown_meanwhile(tmp_path):
    cp = ControlPlane(tmp_path / "cluster").start()
    inv = None
    try:
        core = kubernetes.client.CoreV1Api(cp.api_client("admin"))
        ns = create_namespace(core, "recovery")
        for i in range(3):
            core.create_namespaced_pod(ns, gpu_pod(f"before-{i}", 2))
        inv = InventoryThread(str(cp.kubeconfig("hub")))
        wait_for(lambda: inv.view() == recompute(core), timeout=60, what="first convergence")
        inv.seen_unknown = False  # it was unknown before its first list, rightly
        time.sleep(0.5)
        assert not inv.seen_unknown, "unknown while the watch is healthy"

        cp.restart_apiserver(downtime=3)
        # Same client object: its connection pool reconnects to the new process.
        core = kubernetes.client.CoreV1Api(cp.api_client("admin"))
        core.delete_namespaced_pod("before-0", ns, grace_period_seconds=0)
        for i in range(2):
            core.create_namespaced_pod(ns, gpu_pod(f"after-{i}", 1))

        assert inv.seen_unknown, "the inventory kept answering while the API server was down"
        truth = wait_for(
            lambda: (lambda t: t if inv.view() == t else None)(recompute(core)),
            timeout=60,
            what="convergence after the restart",
        )
        # The truth the inventory converged to includes the changes made after the restart.
        assert sum(t["free"] for t in truth[1].values()) > 0
        before = time.monotonic()
        assert inv.view() == recompute(core), (
            f"diverged again {time.monotonic() - before:.1f}s later"
        )
    finally:
        if inv is not None:
            inv.close()
        cp.stop()
