"""The events of a jobs watch stream (``GET /jobs/watch``): what the sidebar applies
over its list.

A job's place in Kueue's line moves when jobs ahead of it are admitted or leave,
which changes nothing of the job itself, so no watch event of the job says so. While
the stream shows a Queued job, it asks Kueue again every ``PLACE_REFRESH_SECONDS``
and sends the job anew when its place or Kueue's reason has changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from .informer import resource_version
from .kueue_line import is_queued

PLACE_REFRESH_SECONDS = 10.0
"""How stale a queued job's place may get on an open stream; one ranking read per
period, and only while some job is Queued."""

Placer = Callable[[list[dict]], Awaitable[list[dict]]]
"""Completes the summaries of Queued jobs with their place (``kueue_line.with_places``)."""


async def job_events(
    initial, subscription, placed: Placer, refresh: float = PLACE_REFRESH_SECONDS
) -> AsyncIterator[tuple[str, dict]]:
    """``("job", {"type", "job"})``: the initial objects as ADDED, then every change after
    them, and a MODIFIED for a queued job whose place has moved."""
    known = {}
    for kind, obj in initial:
        known[(kind.name, obj["metadata"]["name"])] = resource_version(obj)
    queued: dict[tuple[str, str], dict] = {}
    """The summary last sent of each job shown Queued."""

    def sent(event_type: str, summary: dict) -> tuple[str, dict]:
        key = (summary["kind"], summary["name"])
        if is_queued(summary) and event_type != "DELETED":
            queued[key] = summary
        else:
            queued.pop(key, None)
        return "job", {"type": event_type, "job": summary}

    for summary in await placed([kind.summary(obj) for kind, obj in initial]):
        yield sent("ADDED", summary)
    changes = aiter(subscription)
    while True:
        try:
            kind, event_type, obj = await asyncio.wait_for(anext(changes), refresh if queued else None)
        except StopAsyncIteration:
            return
        except TimeoutError:
            for summary in await placed(list(queued.values())):
                before = queued[(summary["kind"], summary["name"])]
                if (summary.get("queue"), summary["message"]) != (before.get("queue"), before["message"]):
                    yield sent("MODIFIED", summary)
            continue
        if resource_version(obj) <= known.get((kind.name, obj["metadata"]["name"]), 0):
            continue  # already part of the initial state
        (summary,) = await placed([kind.summary(obj)])
        yield sent(event_type, summary)
        if subscription.name is not None and event_type == "DELETED":
            return
