"""How `make test` spreads the suite over its pytest-xdist workers.

Each worker runs whole test files, so a module's fixtures (a hub, a deployed chart)
start once. Two refinements of xdist's ``--dist loadfile``:

- A directory whose tests share a session cluster of their own runs whole on one
  worker; spread over two, each worker would start that cluster.
- Files are handed out in collection order, which ``order_slow_first`` makes longest
  first. xdist's own order (most tests first) hands out the long files of one or two
  tests last, and the run then ends on one worker while the other idles.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadFileScheduling

ONE_WORKER_DIRECTORIES = ("tests/kueue/",)
"""tests/kueue/conftest.py's ``kueue_cluster`` is a session cluster of its own."""


class SuiteScheduling(LoadFileScheduling):
    def __init__(self, config: pytest.Config, log=None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return next((d for d in ONE_WORKER_DIRECTORIES if path.startswith(d)), path)


def order_slow_first(items: list[pytest.Item]) -> None:
    """The one-worker directories first (the longest units), then the tests marked
    ``slow``, then the rest, each group in its collection order."""
    items.sort(
        key=lambda item: (
            not item.nodeid.startswith(ONE_WORKER_DIRECTORIES),
            item.get_closest_marker("slow") is None,
        )
    )
