"""The informer's store on its own: what a fresh listing keeps of the writes made through the API.

A submit through the REST API is written through to the informer at once, so
a list right after it shows the job. The first listing (or a relist) may have
been answered by the API server just before that submit; taking it must not
drop the newer write, or the job vanishes from the list until its watch event
arrives (seen in CI: a workflow missing from ``GET /jobs`` right after its 201).
"""

from __future__ import annotations

from jupyter_mlops.jobs.informer import KindInformer
from jupyter_mlops.jobs.kinds import kind_named

WORKFLOW = kind_named("workflow")


def job(name: str, version: int, phase: str = "") -> dict:
    return {
        "metadata": {"name": name, "resourceVersion": str(version), "uid": f"uid-{name}"},
        "status": {"phase": phase},
    }


def test_a_submit_written_through_during_the_first_list_survives_that_list():
    informer = KindInformer(WORKFLOW)
    informer.apply("MODIFIED", job("submitted", 105))
    changes = informer._replace([job("older", 90)], "100")
    assert sorted(informer.objects) == ["older", "submitted"]
    assert ("ADDED", job("older", 90)) in changes
    assert not [c for c in changes if c[0] == "DELETED"], changes
    assert sorted(o["metadata"]["name"] for o in informer.snapshot()) == ["older", "submitted"]


def test_a_write_through_newer_than_its_listed_copy_is_kept():
    informer = KindInformer(WORKFLOW)
    informer.apply("MODIFIED", job("wf", 120, "Running"))
    informer._replace([job("wf", 110, "Pending")], "115")
    assert informer.objects["wf"]["status"]["phase"] == "Running"


def test_a_relist_drops_what_was_deleted_before_it_and_takes_newer_copies():
    informer = KindInformer(WORKFLOW)
    informer._replace([job("gone", 10), job("changed", 11, "Pending")], "12")
    changes = informer._replace([job("changed", 30, "Succeeded")], "40")
    assert set(informer.objects) == {"changed"}
    assert informer.objects["changed"]["status"]["phase"] == "Succeeded"
    assert ("DELETED", job("gone", 10)) in changes
    assert ("MODIFIED", job("changed", 30, "Succeeded")) in changes
