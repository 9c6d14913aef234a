"""``JobHandle``: one submitted job of any kind — status, logs, events, cancel, delete, resubmit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from .errors import InvalidSpec, NotFound
from .kind import FINISHED, SNAPSHOT_ANNOTATION, JobKind
from .kueue_line import deactivate, in_line, with_places
from .resources import EVENTS, PODS


class JobHandle:
    """A job by kind, name and namespace. Cheap to make; every method asks the API server
    (a notebook server's client reads a sweep's Trials from its watch: ``JobsClient.trials``).

    ``warnings`` holds what submission wanted the user to know (e.g. the job
    did not fit on the free GPUs and is queued).
    """

    def __init__(
        self,
        client,
        kind: JobKind,
        name: str,
        namespace: str | None = None,
        warnings: list[str] | None = None,
    ):
        self.client = client
        self.kind = kind
        self.name = name
        self.namespace = namespace or client.namespace
        self.warnings = list(warnings or [])

    def __repr__(self) -> str:
        return f"<JobHandle {self.kind.name} {self.namespace}/{self.name}>"

    # ------------------------------------------------------------ reading
    def get(self) -> dict:
        """The job object as the API server has it."""
        return self.client.kube.get(self.kind.resource, self.name, self.namespace)

    def pods(self) -> list[dict]:
        selector = f"{self.kind.pod_label}={self.name}"
        pods = self.client.kube.list(PODS, self.namespace, label_selector=selector)["items"]
        return sorted(self.kind.own_pods(pods), key=lambda p: p["metadata"]["name"])

    def status(self) -> dict:
        """Summary (state, message, times) plus ``parts``: replicas, trials or steps."""
        obj = self.get()
        (summary,) = with_places([self.kind.summary(obj)], self.client.kube, self.namespace)
        return {**summary, **self.kind.detail(obj, self.pods(), self.client)}

    def state(self) -> str:
        return self.kind.state(self.get())[0]

    def watch(self, timeout: float | None = None) -> Iterator[dict]:
        """Yield the job's summary now and after every change, until ``timeout`` or deletion.

        Uses one API-server watch, resumed from the last resourceVersion.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        obj = self.get()
        yield self.kind.summary(obj)
        version = obj["metadata"]["resourceVersion"]
        while deadline is None or time.monotonic() < deadline:
            window = 60 if deadline is None else max(1, int(deadline - time.monotonic()))
            for event_type, changed in self.client.watch_events(
                self.kind, name=self.name, resource_version=version, timeout_seconds=window
            ):
                if event_type == "RESYNC":  # 410 Gone: our version is too old
                    changed = self.get()
                version = changed["metadata"]["resourceVersion"]
                if event_type == "DELETED":
                    yield {**self.kind.summary(changed), "deleted": True}
                    return
                yield self.kind.summary(changed)

    def wait(self, timeout: float | None = None, until: tuple[str, ...] = FINISHED) -> dict:
        """Block until the job's state is one of ``until``; return its summary.

        Raises ``TimeoutError`` after ``timeout`` seconds, ``NotFound`` if the job is deleted.
        """
        for summary in self.watch(timeout):
            if summary.get("deleted"):
                raise NotFound(f"{self.kind.name} {self.name!r} was deleted while waiting for it.")
            if summary["state"] in until:
                return summary
        raise TimeoutError(f"{self.kind.name} {self.name!r} did not reach {'/'.join(until)} within {timeout}s")

    def events(self) -> list[dict]:
        """Kubernetes events of the job, its pods and its trials, oldest first."""
        pods = self.pods()
        names = self.kind.event_sources(self, pods)
        items = self.client.kube.list(EVENTS, self.namespace)["items"]
        chosen = []
        for event in items:
            involved = event.get("involvedObject") or {}
            if involved.get("name") not in names:
                continue
            chosen.append(
                {
                    "type": event.get("type"),
                    "reason": event.get("reason"),
                    "message": event.get("message"),
                    "object": f"{involved.get('kind')}/{involved.get('name')}",
                    "count": event.get("count") or 1,
                    "time": event.get("lastTimestamp")
                    or event.get("eventTime")
                    or event["metadata"].get("creationTimestamp"),
                }
            )
        return sorted(chosen, key=lambda e: e["time"] or "")

    # --------------------------------------------------------------- logs
    def log_target(self, part: str | None = None, container: str | None = None) -> tuple[str, str]:
        """(pod, container) of a replica, trial or step; the first one when ``part`` is None."""
        pods = self.pods()
        if not pods:
            raise NotFound(f"{self.kind.name} {self.name!r} has no pods yet, so no logs.")
        pod: dict | None
        if part is None:
            pod = next((p for p in pods if self.kind.part_of_pod(p).startswith("master")), pods[0])
        else:
            matching = [p for p in pods if part in (self.kind.part_of_pod(p), p["metadata"]["name"])]
            # A part of several pods (a PyTorchJob trial): the one whose log is the part's.
            pod = next(
                (p for p in matching if {c["name"] for c in p["spec"]["containers"]} & set(self.kind.log_containers)),
                matching[0] if matching else None,
            )
            if pod is None:
                known = ", ".join(sorted({self.kind.part_of_pod(p) for p in pods}))
                raise NotFound(
                    f"{self.kind.name} {self.name!r} has no {self.kind.part_noun} {part!r} with a pod; known: {known}."
                )
        names = [c["name"] for c in pod["spec"]["containers"]]
        if container is None:
            preferred = (*self.kind.log_containers, self.kind.primary_container)
            container = next((name for name in preferred if name in names), names[0])
        elif container not in names:
            raise InvalidSpec(
                "container",
                f"pod {pod['metadata']['name']} has no container {container!r}; it has {', '.join(names)}",
            )
        return pod["metadata"]["name"], container

    def log_request(
        self,
        part: str | None = None,
        *,
        container: str | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
    ) -> tuple[str, dict]:
        """(pod, query) of the pods/log read for a replica, trial or step."""
        pod, container = self.log_target(part, container)
        params: dict = {"container": container}
        if follow:
            params["follow"] = "true"
        if tail_lines is not None:
            params["tailLines"] = str(tail_lines)
        return pod, params

    def open_logs(
        self,
        part: str | None = None,
        *,
        container: str | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
    ):
        """A ``Stream`` of log lines (``close()`` it when done), read through pods/log."""
        pod, params = self.log_request(part, container=container, follow=follow, tail_lines=tail_lines)
        return self.client.kube.open_stream(
            "get", PODS, pod, subresource="log", params=params, namespace=self.namespace
        )

    def logs(
        self,
        part: str | None = None,
        *,
        container: str | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
    ) -> Iterator[str]:
        """Log lines of a replica (``master-0``, ``worker-1``), trial or step; ``follow`` streams"""
        with self.open_logs(part, container=container, follow=follow, tail_lines=tail_lines) as stream:
            yield from stream

    # ------------------------------------------------------------ actions
    def cancel(self) -> dict:
        """Stop the job but keep it (status, logs) to look at; return its summary."""
        obj = self.get()
        if in_line(obj):
            # Kueue starts a job it admitted again when someone else suspends it: its
            # Workload leaves the line first (Kueue then suspends it itself), so the
            # cancel's own suspend cannot bring its pods back for a moment.
            deactivate(self.client.kube, self.namespace, obj["metadata"]["uid"])
        patched = self.client.kube.patch(
            self.kind.resource, self.name, self.kind.cancel_patch(obj), namespace=self.namespace
        )
        self.client.observe(self.kind, patched)
        return self.kind.summary(patched)

    def delete(self) -> None:
        """Delete the job; the garbage collector removes its pods and snapshot ConfigMap."""
        gone = self.client.kube.delete(self.kind.resource, self.name, self.namespace)
        if gone.get("kind") != "Status":  # the object, now deleted (no finalizers kept it)
            self.client.observe(self.kind, gone, deleted=True)
        else:
            # Custom resources deleted at once answer with a Status naming the uid:
            # lists right after the delete must not show the job any more.
            self.client.forget(self.kind, self.name, (gone.get("details") or {}).get("uid"))

    def resubmit(self) -> JobHandle:
        """Create the same job again under a new name, with the same code snapshot."""
        obj = self.get()
        manifest = self.kind.resubmit_manifest(obj)
        snapshot = (obj["metadata"].get("annotations") or {}).get(SNAPSHOT_ANNOTATION)
        return self.client.create_job(self.kind, manifest, snapshot_configmap=snapshot, snapshot_is_new=False)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind.name, "name": self.name, "namespace": self.namespace})
