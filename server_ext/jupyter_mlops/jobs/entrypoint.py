"""How a job's containers get the user's code: pure functions over pod specs.

The snapshot is mounted read-only; a small shell entrypoint unpacks it into
an ``emptyDir`` at ``CODE_DIR``, changes into it and ``exec``\\ s the user's
command, so the job runs on the notebook's own image with the notebook's
files and ``import`` of local modules works (``PYTHONPATH`` includes it).
"""

from __future__ import annotations

import copy

from .snapshot import ARCHIVE_KEY, SnapshotRef

CODE_DIR = "/mlops/code"
SNAPSHOT_DIR = "/mlops/snapshot"
SNAPSHOT_VOLUME = "mlops-snapshot"
CODE_VOLUME = "mlops-code"
UNPACK_STEPS = 'set -e; tar -xzf "$MLOPS_SNAPSHOT" -C ' + CODE_DIR + "; cd " + CODE_DIR
"""Shell steps that unpack the snapshot and enter it (a sweep trial's line starts with them)."""
UNPACK = UNPACK_STEPS + '; exec "$@"'


def archive_path(ref: SnapshotRef) -> str:
    if ref.configmap:
        return f"{SNAPSHOT_DIR}/{ARCHIVE_KEY}"
    return f"{SNAPSHOT_DIR}/{ref.digest}.tar.gz"


def snapshot_volume(ref: SnapshotRef) -> dict:
    if ref.configmap:
        return {"name": SNAPSHOT_VOLUME, "configMap": {"name": ref.configmap}}
    return {
        "name": SNAPSHOT_VOLUME,
        "persistentVolumeClaim": {"claimName": ref.claim, "readOnly": True},
    }


def wrap_command(command: list[str]) -> list[str]:
    """``command`` run after unpacking; arguments pass through ``"$@"`` unquoted by us."""
    return ["/bin/sh", "-c", UNPACK, "mlops-entrypoint", *command]


def attach_snapshot(pod_spec: dict, ref: SnapshotRef, wrap_commands: bool = True) -> dict:
    """A copy of ``pod_spec`` whose containers unpack the snapshot before running.

    Containers without an explicit ``command`` are left alone (they keep the
    image's entrypoint), as are init containers. ``wrap_commands=False``: the
    commands unpack it themselves (a sweep trial's, ``trial_command``); only the
    volumes and environment are added.
    """
    spec = copy.deepcopy(pod_spec)
    mount_sub = {}
    if not ref.configmap and ref.volume_path:  # on the shared volume: mount its folder only
        mount_sub = {"subPath": ref.volume_path.rsplit("/", 1)[0]}
    spec.setdefault("volumes", []).extend(
        [
            snapshot_volume(ref),
            {"name": CODE_VOLUME, "emptyDir": {}},
        ]
    )
    for container in spec.get("containers", []):
        if not container.get("command"):
            continue
        if wrap_commands:
            container["command"] = wrap_command(list(container["command"]) + list(container.pop("args", [])))
        container.setdefault("volumeMounts", []).extend(
            [
                {"name": SNAPSHOT_VOLUME, "mountPath": SNAPSHOT_DIR, "readOnly": True, **mount_sub},
                {"name": CODE_VOLUME, "mountPath": CODE_DIR},
            ]
        )
        env = [e for e in container.get("env", []) if e.get("name") not in ("MLOPS_SNAPSHOT", "PYTHONPATH")]
        env += [
            {"name": "MLOPS_SNAPSHOT", "value": archive_path(ref)},
            {"name": "PYTHONPATH", "value": CODE_DIR},
        ]
        container["env"] = env
        container["workingDir"] = CODE_DIR
    return spec
