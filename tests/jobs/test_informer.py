"""The jobs informer against a real API server: resume, relist only on 410, fan-out of what changed.

The informer runs on an event loop in a background thread (as it runs on
jupyter-server's loop), because a control plane must be restarted from the
thread that started it. A subscriber records every event it is given.

- A watch the API server ends (after ``watch_seconds``) is resumed from the
  last version: one list, however many watches.
- After an outage during which a job was deleted straight from etcd and the
  history compacted, resuming gets 410 Gone; the relist that follows sends
  the subscriber the DELETED it could not have seen, and every relist is
  owed to a 410.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import kubernetes
import pytest
from jupyter_mlops.jobs.aiokube import AsyncKubeClient
from jupyter_mlops.jobs.credentials import KubeCredentials
from jupyter_mlops.jobs.informer import KindInformer, Subscription
from jupyter_mlops.jobs.kinds import kind_named
from jupyter_mlops.jobs.pytorchjob import PyTorchJob
from mlops_cluster import ControlPlane

from tests.mlops_testing import b64, create_namespace, etcd, wait_for

pytestmark = pytest.mark.cluster
PYTORCHJOB = kind_named("pytorchjob")
IMAGE = "quay.io/jupyter/pytorch-notebook:cuda12-python-3.12"


class InformerThread:
    """A PyTorchJob informer and one subscriber, on a loop of their own."""

    def __init__(self, credentials: KubeCredentials, watch_seconds: int = 300):
        self.loop = asyncio.new_event_loop()
        self.informer = KindInformer(PYTORCHJOB, watch_seconds)
        self.events: list[tuple[str, str]] = []
        """(type, name) of every event the subscriber got."""
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._start(credentials))

    def _call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self, credentials: KubeCredentials) -> None:
        self.kube = AsyncKubeClient(credentials, timeout=5)
        self._task = asyncio.ensure_future(self.informer.run(self.kube))
        await self.informer.ready(30)
        self.subscription = Subscription([self.informer])
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for _, event_type, obj in self.subscription:
            self.events.append((event_type, obj["metadata"]["name"]))

    def names(self) -> set[str]:
        async def read():
            return set(self.informer.objects) if self.informer.synced else None

        return self._call(read())

    def close(self) -> None:
        async def stop():
            self.subscription.close()
            for task in (self._reader, self._task):
                task.cancel()
            await self.kube.aclose()

        self._call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def create_job(custom, namespace: str, name: str) -> None:
    body = PyTorchJob(name=name, command="python a.py", image=IMAGE, snapshot=None).to_manifest(namespace)
    custom.create_namespaced_custom_object("kubeflow.org", "v1", namespace, "pytorchjobs", body)


def listed(custom, namespace: str) -> set[str]:
    items = custom.list_namespaced_custom_object("kubeflow.org", "v1", namespace, "pytorchjobs")
    return {o["metadata"]["name"] for o in items["items"]}


def test_a_watch_that_ends_normally_is_resumed_without_a_relist(control_plane, namespace):
    custom = kubernetes.client.CustomObjectsApi(control_plane.api_client("admin"))
    credentials = KubeCredentials(
        control_plane.server, namespace, str(control_plane.ca_file), token=control_plane.token("admin")
    )
    inf = InformerThread(credentials, watch_seconds=1)  # the API server ends each watch after 1s
    try:
        made = [f"resume-{i}-{uuid.uuid4().hex[:4]}" for i in range(3)]
        for name in made:
            create_job(custom, namespace, name)
            time.sleep(1.5)
        wait_for(lambda: inf.informer.watches_opened >= 4, timeout=30, what="several watches to end and be resumed")
        wait_for(
            lambda: inf.names() == listed(custom, namespace), timeout=30, what="the informer to equal a fresh list"
        )
        assert inf.informer.lists == 1, "an ordinary end of a watch relisted"
        assert inf.informer.expired == 0
        # Each job arrives once; what follows is the Training Operator's status (MODIFIED).
        assert [e for e in inf.events if e[1] in made and e[0] != "MODIFIED"] == [("ADDED", name) for name in made]
    finally:
        inf.close()


@pytest.mark.slow
def test_an_expired_version_is_relisted_and_the_missed_deletion_fanned_out(tmp_path):
    cp = ControlPlane(tmp_path / "cluster").start()
    inf = None
    try:
        core = kubernetes.client.CoreV1Api(cp.api_client("admin"))
        custom = kubernetes.client.CustomObjectsApi(cp.api_client("admin"))
        ns = create_namespace(core, "informer-gone")
        for name in ("kept", "gone"):
            create_job(custom, ns, name)
        credentials = KubeCredentials(cp.server, ns, str(cp.ca_file), token=cp.token("admin"))
        inf = InformerThread(credentials)
        assert inf.names() == {"kept", "gone"}

        def behind_its_back():
            # The informer has noticed the outage; delete a job straight from etcd and
            # compact the history past it: only a relist can learn of the deletion.
            wait_for(lambda: not inf.informer.synced, timeout=30, what="the informer out of sync")
            key = b64(f"/registry/kubeflow.org/pytorchjobs/{ns}/gone")
            deleted = etcd(cp, "kv/deleterange", {"key": key})
            assert deleted.get("deleted") == "1", deleted
            etcd(cp, "kv/compaction", {"revision": deleted["header"]["revision"], "physical": True})

        cp.restart_apiserver(while_down=behind_its_back)
        wait_for(lambda: inf.names() == {"kept"}, timeout=60, what="the relist to drop the job")
        assert ("DELETED", "gone") in inf.events
        assert inf.informer.expired >= 1, "no 410 Gone: the premise failed"
        assert inf.informer.lists - 1 == inf.informer.expired, "a relist without a 410"
    finally:
        if inf is not None:
            inf.close()
        cp.stop()
