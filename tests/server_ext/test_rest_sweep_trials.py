"""A sweep's detail reads its Trials from the server's one watch of Trials, as its user.

A real jupyter-server in this process (its cache can be read), the real Katib
running a sweep (its trial pods run as local processes, ``job_runner``), and the
API server's own request counter: Trials Katib creates and moves after the first
detail show up in the next ones while nobody lists Trials from the API server.
What the API server's RBAC does not let the user list never reaches the cache.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from jupyter_mlops.jobs.errors import PermissionDenied

from tests.jobs_support import LR_TRIAL, lr_sweep, on_server_loop, runs_locally, server_config, until
from tests.jobs_support import call_api as call

pytestmark = pytest.mark.cluster
pytest_plugins = ["pytest_jupyter.jupyter_server"]

GROUP, VERSION = "kubeflow.org", "v1beta1"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"


@pytest.fixture
def server_identity(request, alice, bob):
    """Whose token the server acts with and on which namespace (default: alice on her own)."""
    if getattr(request, "param", "alice") == "bob-on-alice":
        return bob, alice.namespace
    return alice, alice.namespace


@pytest.fixture
def jp_server_config(server_identity):
    return server_config(*server_identity)


def trial_lists(control_plane) -> int:
    """LIST requests for Trials the API server has answered so far, whoever made them."""
    text = control_plane.kubectl("get", "--raw", "/metrics").stdout
    total = 0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if (labels.get("verb"), labels.get("resource")) == ("LIST", "trials"):
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


def bare_trial(name: str, experiment: str) -> dict:
    """A Trial as admin may create one: labelled with ``experiment``, no status."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Trial",
        "metadata": {"name": name, "labels": {EXPERIMENT_LABEL: experiment}},
        "spec": {"parameterAssignments": [{"name": "lr", "value": "0.5"}]},
    }


def served(jp_serverapp):
    return jp_serverapp.web_app.settings["mlops_jobs_client"]


@on_server_loop
async def test_trials_katib_creates_and_moves_reach_the_detail_from_the_watch_alone(
    jp_fetch, jp_serverapp, jp_root_dir, project, control_plane, core_v1, admin_custom_objects, alice, bob, job_runner
):
    runs_locally(core_v1, alice.namespace)
    (jp_root_dir / project / "train.py").write_text(LR_TRIAL)
    name = f"watched-{uuid.uuid4().hex[:6]}"
    # Bob's namespace holds Trials labelled as alice's sweep: hers must never show them.
    bobs = [f"{name}-bob-{i}" for i in range(2)]
    for trial in bobs:
        admin_custom_objects.create_namespaced_custom_object(
            GROUP, VERSION, bob.namespace, "trials", bare_trial(trial, name)
        )
    try:
        body = lr_sweep(name, project, "pod", max_trials=3, parallel_trials=1)  # one trial after the other
        code, created = await call(jp_fetch, "POST", "/jobs/sweeps", "jobs", "sweeps", body=body)
        assert code == 201, created
        trials = served(jp_serverapp).cache.trials
        await until(lambda: trials.synced, what="the server's watch of Trials in sync")
        lists_before = await asyncio.to_thread(trial_lists, control_plane)

        counts, states = [], {}
        for _ in range(480):
            code, detail = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "sweeps", name)
            assert code == 200, detail
            counts.append(len(detail["parts"]))
            for part in detail["parts"]:
                seen = states.setdefault(part["name"], [])
                if not seen or seen[-1] != part["state"]:
                    seen.append(part["state"])
            if detail["state"] in ("Succeeded", "Failed"):
                break
            await asyncio.sleep(0.5)

        assert detail["state"] == "Succeeded", detail
        assert detail["trials"]["succeeded"] == 3 and len(detail["parts"]) == 3, detail["trials"]
        assert all(part["state"] == "Succeeded" and part["metrics"]["accuracy"] for part in detail["parts"])
        # Katib created trials after the first detail (one at a time) and moved each one's
        # state; later details showed both.
        assert counts[0] < 3 and counts == sorted(counts), counts
        assert any(len(seen) > 1 for seen in states.values()), states
        assert not set(states) & set(bobs)
        # None of those details listed Trials from the API server: one list at the start
        # of the watch, resumed since, and no LIST of Trials by anyone meanwhile.
        assert (trials.lists, trials.expired) == (1, 0)
        assert await asyncio.to_thread(trial_lists, control_plane) == lists_before
        assert {t["metadata"]["namespace"] for t in trials.objects.values()} == {alice.namespace}
    finally:
        for trial in bobs:
            admin_custom_objects.delete_namespaced_custom_object(GROUP, VERSION, bob.namespace, "trials", trial)


@pytest.mark.parametrize("server_identity", ["bob-on-alice"], indirect=True)
@on_server_loop
async def test_trials_a_user_may_not_list_never_reach_the_cache(
    jp_fetch, jp_serverapp, server_identity, admin_custom_objects, alice
):
    name = f"alices-{uuid.uuid4().hex[:6]}"
    admin_custom_objects.create_namespaced_custom_object(
        GROUP, VERSION, alice.namespace, "trials", bare_trial(f"{name}-0", name)
    )
    try:
        # Bob's server pointed at alice's namespace: the API server refuses the detail ...
        code, error = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "sweeps", name)
        assert (code, error["error"]) == (403, "forbidden"), error
        # ... and the watch of Trials, whose refusal is kept as the reason, with nothing held.
        client = served(jp_serverapp)
        trials = client.cache.trials
        await until(lambda: isinstance(trials.error, PermissionDenied), what="the Trials list refused")
        assert not trials.synced and trials.objects == {} and trials.snapshot() is None
        with pytest.raises(PermissionDenied) as refused:
            await asyncio.to_thread(client.trials, name)
        assert alice.namespace in refused.value.message
    finally:
        admin_custom_objects.delete_namespaced_custom_object(GROUP, VERSION, alice.namespace, "trials", f"{name}-0")
