"""The magics' live displays follow jobs through the notebook server's shared informer.

A real kernel, started by alice's real notebook server (jupyter-server with the extension), as
in her notebook pod; the API server's own gauge of long-running requests says how many watches
it holds, whoever opened them. A display must cost the API server nothing: the server's one
watch per kind serves every display, as it serves every sidebar stream.
"""

from __future__ import annotations

import uuid

import pytest

from tests.jobs_support import namespaced_watches
from tests.magics.magics_kernel import Kernel, notebook_environment
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster
MORE_DISPLAYS = 3
FOLLOWERS = "[t.name for t in __import__('threading').enumerate()]"
"""The kernel's threads: a --bg display's follower is named mlops-follow-<kind>-<name>."""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def waits_for(go) -> str:
    """A cell that runs until the test creates the file ``go``, then ends well."""
    return f"import os, time\nwhile not os.path.exists({str(go)!r}):\n    time.sleep(0.1)\nprint('done', flush=True)\n"


def shows(data: dict, state: str) -> bool:
    return f"data-state='{state}'" in data["text/html"]


def follow_in_background(kernel, name: str, go) -> None:
    """Submit a job that runs until ``go`` exists, with --bg; return once its display has
    shown it Running: an update that only the display's stream of changes can bring."""
    result = kernel.collect(kernel.start(f"%%mlops pytorchjob --name {name} --bg\n{waits_for(go)}"))
    assert result.ok, result.outputs
    display_id = result.displays()[0][1]
    if not any(shows(data, "Running") for _, _, data in result.displays()):
        kernel.display_updates(
            display_id, lambda updates: any(shows(u["data"], "Running") for u in updates), timeout=120
        )


def test_live_displays_open_no_watch_of_their_own(kernel, alice, training_jobs, control_plane, tmp_path):
    go = tmp_path / "go"
    names = [unique("shared") for _ in range(MORE_DISPLAYS + 1)]
    # The first display's stream has the notebook server start its informers: the watches
    # the API server holds then are the baseline every further display must leave as it is.
    follow_in_background(kernel, names[0], go)
    baseline = namespaced_watches(control_plane)["pytorchjobs"]
    for name in names[1:]:
        follow_in_background(kernel, name, go)
    assert {f"mlops-follow-pytorchjob-{name}" for name in names} <= set(kernel.value(FOLLOWERS))
    # A display that watched by itself would hold one more watch for as long as it follows.
    wait_for(
        lambda: namespaced_watches(control_plane)["pytorchjobs"] == baseline,
        timeout=30,
        what=f"{len(names)} live displays to hold no API-server watch of their own",
    )

    go.touch()  # every job ends well; its display follows it to the end and lets go
    wait_for(
        lambda: not any(name in " ".join(kernel.value(FOLLOWERS)) for name in names),
        timeout=120,
        what="every display to follow its job to the end",
    )
    for name in names:
        shown = kernel.run(f"%mlops status {name}")
        assert shown.text.startswith(f"pytorchjob {name}: Succeeded"), shown.outputs
        assert kernel.run(f"%mlops delete {name}").ok


def test_a_kernel_no_notebook_server_started_shows_the_job_once_and_says_so(
    alice, workdir, hub_availability, training_jobs
):
    """A kernel of jupyter_client alone (a terminal IPython's situation) has no server's
    streams to follow a job with: its displays say so instead of going quiet."""
    bare = Kernel(str(workdir), notebook_environment(alice, hub_availability))
    try:
        assert bare.run("%load_ext jupyter_mlops").ok
        name = unique("bare")
        submitted = bare.run(f"%%mlops pytorchjob --name {name} --bg\nimport time\ntime.sleep(600)\n")
        assert submitted.ok, submitted.outputs
        ((_, _, data),) = submitted.displays()
        says = (
            "This output does not update: live displays follow jobs through the notebook "
            f"server, and no Jupyter server started this kernel; %mlops status {name} "
            "shows it now."
        )
        assert data["text/plain"].startswith(f"pytorchjob {name}: ") and says in data["text/plain"]
        assert f"mlops-follow-pytorchjob-{name}" not in bare.value(FOLLOWERS)

        watched = bare.run(f"%mlops status {name} --watch", timeout=60)
        assert watched.ok, watched.outputs
        ((kind, _, data),) = watched.displays()
        assert kind == "display_data" and says in data["text/plain"]
        assert bare.run(f"%mlops delete {name}").ok
    finally:
        bare.shutdown()
