"""``merge_streams``: one async stream of the items of several, as they come.

The spawn progress page reads one stream; a queued spawn has two sources of
news (KubeSpawner's pod events and its place in Kueue's line), each an async
generator. The merged stream ends when every source has ended, and closing it
(JupyterHub does, when the spawn ends or the page goes) closes every source.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

_DONE = object()


async def merge_streams(*streams: AsyncIterator) -> AsyncIterator:
    queue: asyncio.Queue = asyncio.Queue()

    async def drain(stream: AsyncIterator) -> None:
        try:
            async for item in stream:
                await queue.put(item)
        finally:
            await queue.put(_DONE)

    tasks = [asyncio.ensure_future(drain(s)) for s in streams]
    running = len(tasks)
    try:
        while running:
            item = await queue.get()
            if item is _DONE:
                running -= 1
                continue
            yield item
        for task in tasks:
            task.result()  # a source's error is the stream's error
    finally:
        for task in tasks:
            task.cancel()
        # A cancelled drain leaves its source closed (the cancellation runs its
        # finally); aclose then closes those whose drain never started.
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in streams:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
