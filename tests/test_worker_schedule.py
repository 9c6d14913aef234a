"""How make test spreads files over its workers (tests/worker_schedule.py)."""

from __future__ import annotations

import pytest

from tests.worker_schedule import SuiteScheduling, order_slow_first


def test_a_kueue_test_file_is_part_of_one_unit_with_its_directory_and_other_files_are_their_own():
    split = SuiteScheduling._split_scope
    assert split(None, "tests/kueue/test_a.py::test_x") == split(None, "tests/kueue/test_b.py::test_y[1]")
    assert split(None, "tests/jobs/test_a.py::test_x") == "tests/jobs/test_a.py"
    assert split(None, "tests/jobs/test_a.py::test_x") != split(None, "tests/jobs/test_b.py::test_x")


class Item:
    def __init__(self, nodeid: str, slow: bool = False):
        self.nodeid = nodeid
        self.slow = slow

    def get_closest_marker(self, name: str):
        return pytest.mark.slow if name == "slow" and self.slow else None


def test_the_kueue_directory_goes_first_then_the_slow_files_each_in_collection_order():
    items = [
        Item("tests/cluster/test_fast.py::a"),
        Item("tests/cluster/test_long.py::a", slow=True),
        Item("tests/kueue/test_k.py::a"),
        Item("tests/demo/test_demo.py::a", slow=True),
        Item("tests/contract/test_c.py::a"),
    ]
    order_slow_first(items)
    assert [i.nodeid.split("::")[0] for i in items] == [
        "tests/kueue/test_k.py",
        "tests/cluster/test_long.py",
        "tests/demo/test_demo.py",
        "tests/cluster/test_fast.py",
        "tests/contract/test_c.py",
    ]
