"""Watch streams share the server's informers: N open streams cost the API server nothing more.

A real jupyter-server (in this process, so its threads can be counted) and
real HTTP clients; the API server's own gauge of long-running requests says
how many watches are open, whoever opened them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid

import httpx
import pytest
from jupyter_mlops.jobs import PyTorchJob
from mlops_cluster import container_logs

from tests.jobs_support import IMAGE, namespaced_watches, on_server_loop, server_config, until
from tests.jobs_support import call_api as call

pytestmark = pytest.mark.cluster
pytest_plugins = ["pytest_jupyter.jupyter_server"]

STREAMS = 12


@pytest.fixture
def jp_server_config(alice):
    return server_config(alice, alice.namespace)


def plus_one(watches: dict[str, int]) -> dict[str, int]:
    return {resource: count + 1 for resource, count in watches.items()}


def submit_job(user, prefix: str):
    return user.client().submit(
        PyTorchJob(name=f"{prefix}-{uuid.uuid4().hex[:6]}", command="python a.py", image=IMAGE, snapshot=None)
    )


def threads_started_since(before: set[threading.Thread]) -> set[threading.Thread]:
    """Threads alive now that were not before; one of an earlier test ending meanwhile is no
    leak. The pod runner's output copiers are not the server's: the runner (in this process)
    starts one whenever it restarts a job's process, which it may do during the test."""
    new = set(threading.enumerate()) - before
    return {t for t in new if not t.name.startswith(container_logs.COPIER_THREAD_PREFIX)}


def informers(jp_serverapp):
    return jp_serverapp.web_app.settings["mlops_jobs_client"].cache.informers


async def event_of(lines, name: str, event_type: str) -> dict:
    """The next server-sent event of type ``event_type`` about job ``name`` (others skipped)."""
    async for line in lines:
        if line.startswith("data: "):
            event = json.loads(line[len("data: ") :])
            if (event["type"], event["job"]["name"]) == (event_type, name):
                return event
    raise AssertionError(f"the stream ended before {event_type} of {name}")


def touch(controller, namespace: str, name: str) -> None:
    """A change to the job that every watcher sees as MODIFIED (a label, as a user may add)."""
    group, version, plural = controller.GROUPS["pytorchjob"]
    controller.custom.patch_namespaced_custom_object(
        group, version, namespace, plural, name, {"metadata": {"labels": {"touched": "yes"}}}
    )


@on_server_loop
async def test_many_streams_hold_one_watch_per_kind_and_leave_no_thread(
    jp_fetch,
    jp_serverapp,
    jp_http_port,
    jp_base_url,
    jp_auth_header,
    control_plane,
    alice,
    controller,
):
    job = submit_job(alice, "streams")
    api = f"http://127.0.0.1:{jp_http_port}{jp_base_url}mlops/api/v1"
    urls = [f"{api}/jobs/watch", f"{api}/jobs/pytorchjobs/{job.name}/watch"]
    others = namespaced_watches(control_plane)  # this server has not built its client yet
    async with httpx.AsyncClient(headers=jp_auth_header, timeout=60) as http:
        # One stream first: the server starts its watches, and what a stream makes once exists.
        async with http.stream("GET", urls[0]) as warm:
            await event_of(warm.aiter_lines(), job.name, "ADDED")
        watches_before = plus_one(others)
        await until(lambda: namespaced_watches(control_plane) == watches_before, what="the server's one watch per kind")
        threads_before = set(threading.enumerate())

        opened = []
        for i in range(STREAMS):
            stream = http.stream("GET", urls[i % 2], params={"timeout": "600"})
            response = await stream.__aenter__()
            assert response.status_code == 200
            lines = response.aiter_lines()
            await event_of(lines, job.name, "ADDED")
            opened.append((stream, lines))
        assert namespaced_watches(control_plane) == watches_before, "no API-server watch per stream"

        # One change reaches every stream (fan-out): one the user makes, a label on the job
        # (what the operator writes comes when it will).
        touch(controller, alice.namespace, job.name)
        for _, lines in opened:
            assert (await event_of(lines, job.name, "MODIFIED"))["job"]["name"] == job.name
        for stream, _ in opened:
            await stream.__aexit__(None, None, None)

    every = informers(jp_serverapp).values()
    await until(lambda: all(i.subscribers == 0 for i in every), what="every stream unsubscribed")
    assert [i.watches_open for i in every] == [1, 1, 1]
    assert namespaced_watches(control_plane) == watches_before
    assert threads_started_since(threads_before) == set(), "a thread outlived its stream"
    assert (await call(jp_fetch, "GET", "/jobs", "jobs"))[0] == 200
    job.delete()


@on_server_loop
async def test_a_stream_whose_client_vanished_mid_event_is_cleaned_up(
    jp_fetch,
    jp_serverapp,
    jp_http_port,
    jp_base_url,
    jp_auth_header,
    control_plane,
    alice,
    controller,
):
    job = submit_job(alice, "vanish")
    others = namespaced_watches(control_plane)  # this server has not built its client yet
    assert (await call(jp_fetch, "GET", "/jobs", "jobs"))[0] == 200  # its watches start
    watches_before = plus_one(others)
    await until(lambda: namespaced_watches(control_plane) == watches_before, what="the server's one watch per kind")
    every = informers(jp_serverapp).values()
    threads_before = set(threading.enumerate())

    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    path = f"{jp_base_url}mlops/api/v1/jobs/watch"
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {jp_auth_header['Authorization']}\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"event: job")  # into the first event, not to its end
    assert head.startswith(b"HTTP/1.1 200")
    await until(lambda: informers(jp_serverapp)["pytorchjob"].subscribers == 1, what="subscribed")
    # Vanish without a goodbye (RST), while the server still has events to write.
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()
    touch(controller, alice.namespace, job.name)

    await until(lambda: all(i.subscribers == 0 for i in every), what="the vanished client gone")
    assert [i.watches_open for i in every] == [1, 1, 1]
    assert namespaced_watches(control_plane) == watches_before
    assert threads_started_since(threads_before) == set(), "a thread outlived its stream"
    job.delete()
