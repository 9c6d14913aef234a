"""The list cache's bookkeeping of writes made through the API (pure: no watch runs here)."""

from __future__ import annotations

from jupyter_mlops.jobs.cache import JobCache
from jupyter_mlops.jobs.kinds import kind_named

PYTORCHJOB = kind_named("pytorchjob")


def job(name: str, uid: str, version: str) -> dict:
    return {"metadata": {"name": name, "uid": uid, "resourceVersion": version}}


def synced_cache(*objects: dict) -> JobCache:
    cache = JobCache(kube=None, kinds=[PYTORCHJOB])  # never started: no watch
    informer = cache.informers[PYTORCHJOB.name]
    informer.objects = {o["metadata"]["name"]: o for o in objects}
    informer.synced = True
    return cache


def names(cache: JobCache) -> list[str]:
    return sorted(o["metadata"]["name"] for o in cache.objects(PYTORCHJOB))


def test_a_delete_answered_with_a_status_drops_the_job_at_once():
    # The API server answers the DELETE of a custom resource with a Status that
    # names its uid; the next list must not wait for the watch's DELETED event.
    cache = synced_cache(job("a", "uid-a", "10"), job("b", "uid-b", "11"))
    cache.forget(PYTORCHJOB, "a", "uid-a")
    assert names(cache) == ["b"]


def test_a_job_created_again_under_the_same_name_stays():
    cache = synced_cache(job("a", "uid-new", "20"))
    cache.forget(PYTORCHJOB, "a", "uid-old")
    assert names(cache) == ["a"]
    cache.forget(PYTORCHJOB, "gone-already", "uid-x")
    assert names(cache) == ["a"]


def test_a_deleted_object_in_the_answer_is_applied_as_before():
    cache = synced_cache(job("a", "uid-a", "10"))
    cache.observe(PYTORCHJOB, job("a", "uid-a", "12"), deleted=True)
    assert names(cache) == []
