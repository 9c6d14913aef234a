"""The pod status a kubelet would report for a local process: pure functions.

KWOK makes every pod Running once it is bound; for a pod the pod runner runs,
the process decides the rest, as a container would on a node:

- exit code 0 with ``restartPolicy`` ``Never`` or ``OnFailure``: ``Succeeded``;
- another exit code with ``Never``: ``Failed``;
- an exit the policy restarts (``Always``; ``OnFailure`` with a non-zero code):
  the pod stays ``Running``, its container ``restartCount`` goes up by one, its
  ``lastState`` holds the exit, and it waits in ``CrashLoopBackOff`` before
  the next start. This is what the Training Operator counts against a job's
  ``runPolicy.backoffLimit``.

Only the main container runs; the others are reported with the main one's
state, so that the pod's phase and its containers agree.
"""

from __future__ import annotations

from datetime import datetime, timezone

RESTARTED_BY_POLICY = {"Always": lambda code: True, "OnFailure": lambda code: code != 0, "Never": lambda code: False}


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def restart_policy(pod: dict) -> str:
    return pod["spec"].get("restartPolicy") or "Always"


def restarts_after(pod: dict, exit_code: int) -> bool:
    """Whether the kubelet starts the container again after it exits with ``exit_code``."""
    return RESTARTED_BY_POLICY[restart_policy(pod)](exit_code)


def restart_delay(restart_count: int, base: float, cap: float) -> float:
    """The kubelet's crash-loop back-off: ``base`` doubling per restart, at most ``cap``."""
    return min(base * 2 ** max(restart_count - 1, 0), cap)


def terminated(exit_code: int, started_at: str, finished_at: str) -> dict:
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": started_at,
            "finishedAt": finished_at,
        }
    }


def _containers(pod: dict, state: dict, ready: bool, restart_count: int, last_state: dict | None) -> list[dict]:
    statuses = []
    for container in pod["spec"]["containers"]:
        status = {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "ready": ready,
            "started": "running" in state,
            "restartCount": restart_count,
            "state": state,
        }
        if last_state:
            status["lastState"] = last_state
        statuses.append(status)
    return statuses


def _ready_conditions(ready: bool, at: str) -> list[dict]:
    value = "True" if ready else "False"
    return [{"type": kind, "status": value, "lastTransitionTime": at} for kind in ("Ready", "ContainersReady")]


def running(pod: dict, started_at: str, restart_count: int, last_state: dict | None) -> dict:
    """The status patch of a (re)started container."""
    return {
        "status": {
            "phase": "Running",
            "conditions": _ready_conditions(True, started_at),
            "containerStatuses": _containers(
                pod, {"running": {"startedAt": started_at}}, True, restart_count, last_state
            ),
        }
    }


def back_off(pod: dict, exit_code: int, started_at: str, restart_count: int) -> dict:
    """The status patch of a container that exited and waits to be started again."""
    at = now()
    waiting = {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off restarting failed container (exit code {exit_code})",
        }
    }
    return {
        "status": {
            "phase": "Running",
            "conditions": _ready_conditions(False, at),
            "containerStatuses": _containers(pod, waiting, False, restart_count, terminated(exit_code, started_at, at)),
        }
    }


def finished(pod: dict, exit_code: int, started_at: str, restart_count: int, last_state: dict | None) -> dict:
    """The status patch of a pod whose container exited for good."""
    at = now()
    return {
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "conditions": _ready_conditions(False, at),
            "containerStatuses": _containers(
                pod, terminated(exit_code, started_at, at), False, restart_count, last_state
            ),
        }
    }
