"""A queued spawn's place in line, as the progress page shows it (pure parts)."""

from __future__ import annotations

import asyncio

import pytest
from jupyterhub_mlops.availability.queue_sync import gpus_by_type
from jupyterhub_mlops.progress_streams import merge_streams
from jupyterhub_mlops.queue_position import (
    QueuePlace,
    place_of,
    queue_html_message,
    queue_message,
)
from jupyterhub_mlops.spawn_form import FormError, validate_choice
from mlops_contract.queueing import ADMISSION_GATE, is_gated, ordinal


@pytest.mark.parametrize(
    ("n", "said"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (21, "21st"), (113, "113th")],
)
def test_ordinals(n, said):
    assert ordinal(n) == said


def workload(name: str, message: str | None) -> dict:
    conditions = [] if message is None else [{"type": "QuotaReserved", "status": "False", "message": message}]
    return {"metadata": {"name": name}, "status": {"conditions": conditions}}


def test_the_place_is_the_position_in_the_groups_cluster_queue_counted_from_one():
    pending = {
        "items": [
            {"metadata": {"name": "pod-a"}, "positionInClusterQueue": 0, "positionInLocalQueue": 0},
            {"metadata": {"name": "pod-b"}, "positionInClusterQueue": 2, "positionInLocalQueue": 0},
        ]
    }
    place = place_of(workload("pod-b", "insufficient unused quota for nvidia.com/gpu"), pending)
    assert place == QueuePlace(3, "insufficient unused quota for nvidia.com/gpu")
    text = queue_message(place, "vision", 2, "NVIDIA-A100-SXM4-80GB")
    assert text == (
        "Queued: 3rd in line in vision for 2 × NVIDIA-A100-SXM4-80GB."
        " Kueue: insufficient unused quota for nvidia.com/gpu"
    )
    # Not ranked yet (Kueue has not listed it): said so, not a made-up number.
    unranked = place_of(workload("pod-c", None), pending)
    assert unranked == QueuePlace(None, "")
    assert queue_message(unranked, "vision", 1, "A100").startswith("Queued: waiting for its place in line in vision")


def test_the_html_message_escapes_kueues_words_and_offers_cancel():
    html = queue_html_message(queue_message(QueuePlace(1, "<script>x</script>"), "g", 1, "A100"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "stop-server-btn" in html and ">Cancel</button>" in html


def test_only_kueues_gate_marks_a_pod_as_queued():
    assert is_gated({"spec": {"schedulingGates": [{"name": ADMISSION_GATE}]}})
    assert not is_gated({"spec": {"schedulingGates": [{"name": "example.com/other"}]}})
    assert not is_gated({"spec": {}}) and not is_gated(None)


ROWS = [
    {"slug": "a100-1", "gpus": 1, "display_name": "1 × A100", "reason_code": "none_free", "disabled_reason": "busy"},
    {"slug": "a100-8", "gpus": 8, "display_name": "8 × A100", "reason_code": "over_cap", "disabled_reason": "cap 4"},
]


def test_a_choice_that_asks_to_wait_passes_only_when_the_hub_queues_and_the_gpus_are_only_taken():
    assert validate_choice({"profile": ["a100-1"], "queue": ["on"]}, ROWS, may_queue=True)["slug"] == "a100-1"
    assert validate_choice({"profile": "a100-1", "queue": True}, ROWS, may_queue=True)["slug"] == "a100-1"
    with pytest.raises(FormError) as not_queueing:
        validate_choice({"profile": "a100-1", "queue": True}, ROWS, may_queue=False)
    assert not_queueing.value.status == 409
    with pytest.raises(FormError) as not_asked:
        validate_choice({"profile": "a100-1"}, ROWS, may_queue=True)
    assert not_asked.value.status == 409
    with pytest.raises(FormError) as over_cap:  # a user's own cap is never waited out
        validate_choice({"profile": "a100-8", "queue": True}, ROWS, may_queue=True)
    assert over_cap.value.status == 403


def test_only_whole_gpus_on_servers_that_offer_them_are_queued():
    types = {
        "a": {"resource": "nvidia.com/gpu", "kind": "gpu", "product": "A100", "total": 8},
        "b": {"resource": "nvidia.com/mig-1g.10gb", "kind": "mig", "product": "A100", "total": 7},
        "c": {"resource": "nvidia.com/gpu", "kind": "gpu", "product": "H100", "total": 0},
    }
    assert gpus_by_type(types) == {"A100": 8}
    assert gpus_by_type(None) is None


def test_merged_streams_yield_everything_and_close_every_source():
    closed = []

    async def source(name, n, delay):
        try:
            for i in range(n):
                await asyncio.sleep(delay)
                yield f"{name}{i}"
        finally:
            closed.append(name)

    async def forever():
        try:
            while True:
                await asyncio.sleep(0.01)
                yield "tick"
        finally:
            closed.append("forever")

    async def main():
        got = [item async for item in merge_streams(source("a", 3, 0.001), source("b", 2, 0.002))]
        assert sorted(got) == ["a0", "a1", "a2", "b0", "b1"]
        stream = merge_streams(forever(), source("c", 1, 0))
        first = [await stream.__anext__(), await stream.__anext__()]
        await stream.aclose()  # what JupyterHub does when the spawn ends
        return first

    first = asyncio.run(main())
    assert "c0" in first or "tick" in first
    assert sorted(closed) == ["a", "b", "c", "forever"]
