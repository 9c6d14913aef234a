"""Watch recovery: kube-apiserver restarts mid-run, resume versions expire.

The restarts use a dedicated control plane (its own run dir) so they do not
disturb the session cluster other tests use. The inventory's loop runs in a
thread of its own because the control plane must be restarted from the main
thread (its processes are tied to the thread that started them). While the
API server is down the inventory must say "unknown" (``gpu_types() is
None``), and afterwards converge to the brute-force truth again.

- A normal end of a watch stream is resumed from the last resourceVersion:
  no relist.
- A resume version etcd has compacted away gets ``410 Gone``: the inventory
  relists, says "unknown" until the relist is in, and never a wrong number.
"""

from __future__ import annotations

import asyncio
import threading
import time

import kubernetes
import pytest
from jupyterhub_mlops.inventory import GpuInventory, InventoryWatcher
from kubernetes_asyncio import config as async_config
from mlops_cluster import ControlPlane

from tests.inventory.gpu_oracle import recompute
from tests.mlops_testing import b64, create_namespace, etcd, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


class InventoryThread:
    """An inventory and its watcher on an event loop in a background thread;
    records every in_sync value it sees, every 20 ms."""

    def __init__(self, kubeconfig: str, watch_timeout: int = 300):
        self.loop = asyncio.new_event_loop()
        self.inventory = GpuInventory()
        self.seen_unknown = False
        self.answers: list[tuple[float, object]] = []
        """(monotonic time, view) each time the view changed: what readers were told."""
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._start(kubeconfig, watch_timeout))

    def _run(self, coro, timeout=60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self, kubeconfig: str, watch_timeout: int):
        self.api = await async_config.new_client_from_config(config_file=kubeconfig)
        self.watcher = InventoryWatcher(
            self.inventory,
            self.api,
            request_timeout=5,
            max_backoff=0.5,
            watch_timeout=watch_timeout,
        )
        self.watcher.start()
        self._sampler = asyncio.ensure_future(self._sample())
        await self.watcher.wait_in_sync()

    async def _sample(self):
        while True:
            view = self._view()
            if view[1] is None:
                self.seen_unknown = True
            if not self.answers or self.answers[-1][1] != view:
                self.answers.append((time.monotonic(), view))
            await asyncio.sleep(0.02)

    def _view(self):
        snap = self.inventory.snapshot()
        free = {v.record.name: dict(v.free) for v in snap.nodes if v.unavailable_reason is None}
        types = snap.gpu_types()
        return free, types and {t: {"total": e["total"], "free": e["free"]} for t, e in types.items() if e["total"] > 0}

    def view(self):
        async def take():
            return self._view()

        return self._run(take())

    def counters(self) -> dict:
        """The watcher's relists, 410s and watch streams opened, per kind (a copy)."""
        w = self.watcher
        return {"relists": dict(w.relists), "gone": dict(w.gone), "watches": dict(w.watches)}

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
        assert inv.view() == recompute(core), f"diverged again {time.monotonic() - before:.1f}s later"
    finally:
        if inv is not None:
            inv.close()
        cp.stop()


def converged(inv: InventoryThread, core) -> tuple:
    """The fresh-list truth, once the inventory equals it."""
    return wait_for(
        lambda: (lambda t: t if inv.view() == t else None)(recompute(core)),
        timeout=60,
        what="the inventory to equal a fresh list",
    )


def test_a_watch_that_ends_normally_is_resumed_without_a_relist(control_plane, core_v1, namespace):
    # The API server ends each watch after a second: many ordinary reconnections.
    inv = InventoryThread(str(control_plane.kubeconfig("hub")), watch_timeout=1)
    try:
        converged(inv, core_v1)
        inv.seen_unknown = False  # it was unknown before its first list, rightly
        start = inv.counters()
        assert start["relists"] == {"nodes": 1, "pods": 1}
        for i in range(3):
            core_v1.create_namespaced_pod(namespace, gpu_pod(f"during-{i}", 1))
            time.sleep(1.5)
        wait_for(
            lambda: inv.counters()["watches"]["pods"] >= start["watches"]["pods"] + 4,
            timeout=30,
            what="several watch streams to end and be resumed",
        )
        converged(inv, core_v1)
        now = inv.counters()
        assert now["relists"] == start["relists"], "a normal reconnection relisted"
        assert now["gone"] == {"nodes": 0, "pods": 0}
        assert not inv.seen_unknown, "unknown across an ordinary reconnection"
    finally:
        inv.close()


def test_an_expired_resume_version_gets_410_and_a_relist_that_converges(tmp_path):
    cp = ControlPlane(tmp_path / "cluster").start()
    inv = None
    try:
        core = kubernetes.client.CoreV1Api(cp.api_client("admin"))
        ns = create_namespace(core, "gone")
        for i in range(3):
            core.create_namespaced_pod(ns, gpu_pod(f"before-{i}", 2))
        # A pending pod holds no GPU yet: the starting figure must include all
        # three, or the deletion below could be of a pod that never counted.
        wait_for(
            lambda: all(p.spec.node_name for p in core.list_namespaced_pod(ns).items),
            timeout=60,
            what="the scheduler to bind the three GPU pods",
        )
        inv = InventoryThread(str(cp.kubeconfig("hub")))
        before = converged(inv, core)
        start = inv.counters()
        stale_since = None

        def behind_its_back():
            # The API server is down and the inventory knows it ("unknown"). Delete a
            # GPU pod straight from etcd, then compact etcd's history past every
            # version the inventory has seen: resuming its watch must get 410 Gone,
            # and only a relist can learn of the deletion.
            nonlocal stale_since
            wait_for(lambda: inv.view()[1] is None, timeout=30, what="the inventory to say unknown")
            deleted = etcd(cp, "kv/deleterange", {"key": b64(f"/registry/pods/{ns}/before-0")})
            assert deleted.get("deleted") == "1", deleted
            stale_since = time.monotonic()
            etcd(cp, "kv/compaction", {"revision": deleted["header"]["revision"], "physical": True})

        cp.restart_apiserver(while_down=behind_its_back)
        core = kubernetes.client.CoreV1Api(cp.api_client("admin"))
        truth = converged(inv, core)
        now = inv.counters()
        assert now["gone"]["pods"] > start["gone"]["pods"], "no 410 Gone: the premise failed"
        relisted = now["relists"]["pods"] - start["relists"]["pods"]
        assert 1 <= relisted <= now["gone"]["pods"] - start["gone"]["pods"]
        # The deletion made behind its back shows: two A100s more are free.
        free = lambda view: sum(t["free"] for t in view[1].values())  # noqa: E731
        assert free(truth) == free(before) + 2
        # From the deletion on, readers were told "unknown" or the new truth, nothing else.
        told = [view for at, view in inv.answers if at >= stale_since and view[1] is not None]
        assert told and all(view == truth for view in told), "a wrong number was served"
    finally:
        if inv is not None:
            inv.close()
        cp.stop()
