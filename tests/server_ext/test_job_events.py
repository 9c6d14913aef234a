"""A watch stream's events (jobs/job_events.py) over a stand-in subscription: the
informers' side is covered end to end by test_rest_streams.py and the Kueue tests;
here, what the stream sends when nothing of a queued job changes but its place."""

from __future__ import annotations

import asyncio

import pytest
from jupyter_mlops.jobs.job_events import job_events


class Kind:
    name = "pytorchjob"

    @staticmethod
    def summary(obj: dict) -> dict:
        return {"kind": "pytorchjob", "name": obj["metadata"]["name"], "state": obj["state"], "message": ""}


class Changes:
    """What the informers hand a subscription: (kind, event type, object), in order."""

    name = None

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item


def job(name: str, state: str, version: int) -> dict:
    return {"metadata": {"name": name, "resourceVersion": str(version)}, "state": state}


class Line:
    """Kueue's ranking as ``placed`` reads it: a job's position, changed by the test."""

    def __init__(self, **positions: int):
        self.positions = positions
        self.reads = 0

    async def placed(self, summaries: list[dict]) -> list[dict]:
        self.reads += any(s["state"] == "Queued" for s in summaries)
        out = []
        for s in summaries:
            if s["state"] == "Queued":
                position = self.positions[s["name"]]
                s = {**s, "queue": {"position": position, "reason": "quota"}, "message": f"Queued: {position}"}
            out.append(s)
        return out


async def next_event(events, timeout: float = 5.0) -> dict:
    return (await asyncio.wait_for(anext(events), timeout))[1]


async def test_a_queued_job_is_sent_again_when_its_place_moves_and_only_then():
    line, changes = Line(b=2), Changes()
    events = job_events([(Kind, job("a", "Running", 1)), (Kind, job("b", "Queued", 2))], changes, line.placed, 0.05)
    assert [(await next_event(events))["job"].get("queue") for _ in range(2)] == [
        None,
        {"position": 2, "reason": "quota"},
    ]
    line.positions["b"] = 1  # the job ahead was admitted; b itself did not change
    moved = await next_event(events)
    assert moved["type"] == "MODIFIED" and moved["job"]["queue"]["position"] == 1
    assert moved["job"]["message"] == "Queued: 1"
    # Kueue is asked again and again, but an unchanged place sends nothing: the next
    # event is the job's own change.
    reads = line.reads
    waiting = asyncio.ensure_future(next_event(events))
    await asyncio.sleep(0.3)
    assert line.reads > reads and not waiting.done()
    await changes.queue.put((Kind, "MODIFIED", job("b", "Running", 3)))
    admitted = await waiting
    assert admitted["job"]["state"] == "Running" and "queue" not in admitted["job"]
    # Nothing Queued any more: Kueue is not asked again.
    reads = line.reads
    waiting = asyncio.ensure_future(next_event(events))
    await asyncio.sleep(0.3)
    assert line.reads == reads
    await changes.queue.put(None)  # the subscription ends: so does the stream
    with pytest.raises(StopAsyncIteration):
        await waiting


async def test_a_change_the_initial_state_already_holds_is_not_sent_twice():
    line, changes = Line(), Changes()
    events = job_events([(Kind, job("a", "Running", 5))], changes, line.placed, 0.05)
    assert (await next_event(events))["type"] == "ADDED"
    await changes.queue.put((Kind, "MODIFIED", job("a", "Running", 5)))
    await changes.queue.put((Kind, "MODIFIED", job("a", "Succeeded", 6)))
    assert (await next_event(events))["job"]["state"] == "Succeeded"
