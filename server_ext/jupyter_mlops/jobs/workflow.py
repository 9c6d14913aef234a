"""Argo Workflows: Hera ``Workflow`` objects (or Workflow manifests) submitted unchanged.

They go in as ``Workflow`` resources through the Kubernetes API as the user's
service account, or through the Argo Server (Hera's ``WorkflowsService``)
when ``MlopsJobs.argo_server_url`` / ``MLOPS_ARGO_SERVER`` names one. A
snapshot of the working directory is attached only when asked for.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from mlops_contract import jobs
from mlops_contract.queueing import (
    JOB,
    LOCAL_QUEUE,
    PRIORITY_CLASS_LABEL,
    QUEUE_NAME_LABEL,
    WAITING_IN_LINE,
    is_gated,
)

from . import podspec
from .argo_server import create_workflow
from .entrypoint import attach_snapshot
from .errors import InvalidSpec
from .kind import CANCELLED, JobKind
from .resources import WORKFLOWS
from .settings import NotebookPod
from .snapshot import Snapshot, SnapshotRef

NODE_NAME_ANNOTATION = "workflows.argoproj.io/node-name"
NODE_ID_ANNOTATION = "workflows.argoproj.io/node-id"
STEP_NODE_TYPES = ("Pod", "Container", "Skipped", "Suspend", "HTTP", "Plugin")
"""Argo node types that are steps. The others group steps: the workflow's root
(``Steps`` or ``DAG``), each parallel ``StepGroup``, a ``TaskGroup``, the ``Retry``
around a step's attempts (each attempt is a ``Pod`` node of its own)."""
STEP_STATES = {**jobs.WorkflowKind.PHASES, "Skipped": "Skipped", "Omitted": "Omitted"}
"""A step's state from its node's phase: the job states, and ``Skipped`` (its ``when``
was false) and ``Omitted`` (a DAG task whose dependencies ruled it out)."""


def run_steps_as_executor(workflow_spec: dict, notebook: NotebookPod) -> dict:
    """Steps run as the user's workflow account unless the workflow names its own:
    the executor in each step's pod reports the step's outputs with that pod's token,
    and the step fails when the account may not (the namespace's ``default`` may not)."""
    if notebook.workflow_service_account:
        workflow_spec.setdefault("serviceAccountName", notebook.workflow_service_account)
    return workflow_spec


@dataclass
class ArgoWorkflow:
    """A Workflow manifest to submit; build it from Hera with ``ArgoWorkflow.from_hera(wf)``."""

    manifest: dict
    snapshot: Snapshot | None = None
    """Ship the working directory to every container and script step (off by default)."""

    kind = "workflow"

    @classmethod
    def from_hera(cls, workflow, snapshot: Snapshot | None = None) -> ArgoWorkflow:
        """Accept a ``hera.workflows.Workflow`` as its author built it."""
        return cls(manifest=workflow.to_dict(), snapshot=snapshot)

    def validate(self, notebook: NotebookPod | None = None) -> None:
        """Check the manifest (``notebook`` is not needed: a workflow names its own images)."""
        m = self.manifest
        if not isinstance(m, dict):
            raise InvalidSpec("manifest", "must be a Workflow object")
        if m.get("apiVersion") != WORKFLOWS.api_version or m.get("kind") != "Workflow":
            raise InvalidSpec("manifest.kind", f"must be apiVersion {WORKFLOWS.api_version}, kind Workflow")
        meta = m.get("metadata")
        if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
            raise InvalidSpec("manifest.metadata.name", "give the workflow a name or generateName")
        if meta.get("name"):
            podspec.check_name(meta["name"], "manifest.metadata.name")
        spec = m.get("spec")
        if not isinstance(spec, dict):
            raise InvalidSpec("manifest.spec", "is missing")
        if not (spec.get("templates") or spec.get("workflowTemplateRef")):
            raise InvalidSpec("manifest.spec.templates", "a workflow needs templates or a workflowTemplateRef")
        kueue_labels = (QUEUE_NAME_LABEL, PRIORITY_CLASS_LABEL)
        for where, labels in [
            ("manifest.metadata.labels", meta.get("labels")),
            ("manifest.spec.podMetadata.labels", (spec.get("podMetadata") or {}).get("labels")),
            *(
                (f"manifest.spec.templates[{i}].metadata.labels", (t.get("metadata") or {}).get("labels"))
                for i, t in enumerate(spec.get("templates") or [])
            ),
        ]:
            for key in kueue_labels:
                if key in (labels or {}):
                    # A queue of another group, or the notebooks' class, would be refused
                    # in the cluster only once Argo makes the step's pod: refused here, at once.
                    raise InvalidSpec(
                        f"{where}.{key}",
                        "Kueue's line is the suite's to set: GPU steps wait in your namespace's queue "
                        f"{LOCAL_QUEUE!r} with the job class by themselves; remove this label",
                    )
        names = {t.get("name") for t in spec.get("templates") or []}
        if spec.get("templates") and spec.get("entrypoint") not in names:
            raise InvalidSpec(
                "manifest.spec.entrypoint",
                f"{spec.get('entrypoint')!r} is not one of the templates",
            )

    def gpu_request(self) -> tuple[str | None, int, int]:
        """The largest single step's GPUs (steps run one pod each)."""
        gpus, gpu_type = jobs.WORKFLOW.requested_gpus(self.manifest)
        return gpu_type, gpus, 1

    def to_manifest(
        self,
        namespace: str,
        snapshot: SnapshotRef | None = None,
        notebook: NotebookPod | None = None,
    ) -> dict:
        notebook = notebook or NotebookPod()
        manifest = copy.deepcopy(self.manifest)
        meta = manifest.setdefault("metadata", {})
        meta["namespace"] = namespace
        meta.setdefault("labels", {})[podspec.SUBMITTED_BY] = "jupyter-mlops"
        run_steps_as_executor(manifest.setdefault("spec", {}), notebook)
        if notebook.owner_labels:  # every step's pod, whatever the workflow says
            pod_meta = manifest.setdefault("spec", {}).setdefault("podMetadata", {})
            pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **notebook.owner_labels}
        for template in manifest["spec"].get("templates") or []:
            # Each GPU step's pod waits in the namespace's Kueue line (its pod integration).
            gpus, _ = jobs.template_gpus(template)
            labels = podspec.queue_labels(notebook, gpus, JOB)
            if labels:
                step_meta = template.setdefault("metadata", {})
                step_meta["labels"] = {**(step_meta.get("labels") or {}), **labels}
        if snapshot is not None:
            spec = manifest["spec"]
            volumes = None
            for template in spec.get("templates") or []:
                for key in ("container", "script"):
                    if key in template and template[key].get("command"):
                        pod = attach_snapshot({"containers": [template[key]]}, snapshot)
                        template[key] = pod["containers"][0]
                        volumes = pod["volumes"]
            if volumes:
                spec["volumes"] = [
                    v for v in spec.get("volumes") or [] if v["name"] not in {x["name"] for x in volumes}
                ] + volumes
        return manifest


def failed_steps_message(status: dict) -> str:
    """Which steps failed and why, for a failed workflow. The controller's own message
    names the failed child by node id (``child 'wf-4178200032' failed``), which tells a
    user nothing; the failed step nodes hold the name and the reason."""
    failed = sorted(
        (
            n
            for n in (status.get("nodes") or {}).values()
            if n.get("type") in STEP_NODE_TYPES and STEP_STATES.get(n.get("phase") or "") == "Failed"
        ),
        key=lambda n: n.get("finishedAt") or "",
    )
    return "; ".join(
        f"step {n.get('displayName') or n.get('name')} failed: {n.get('message') or n.get('phase')}" for n in failed
    )


class WorkflowKind(JobKind):
    contract = jobs.WORKFLOW
    collection = "workflows"
    resource = WORKFLOWS
    pod_label = "workflows.argoproj.io/workflow"
    primary_container = "main"
    part_noun = "step"

    def state(self, obj: dict) -> tuple[str, str]:
        state, message = self.contract.state(obj)
        if state == "Failed":
            message = failed_steps_message(obj.get("status") or {}) or message
        return state, message

    def part_of_pod(self, pod: dict) -> str:
        """The step's display name, as ``parts`` lists it. The controller annotates the pod
        with the node's full name (``wf[1].train``, ``wf.dag-task``); step and task names
        cannot hold a dot, so the display name is what follows the last one."""
        annotations = pod["metadata"].get("annotations") or {}
        node_name = annotations.get(NODE_NAME_ANNOTATION)
        return node_name.rsplit(".", 1)[-1] if node_name else pod["metadata"]["name"]

    def parts(self, obj: dict, pods: list[dict], client) -> list[dict]:
        pods_by_node = {(p["metadata"].get("annotations") or {}).get(NODE_ID_ANNOTATION): p for p in pods}
        steps = []
        for node_id, node in ((obj.get("status") or {}).get("nodes") or {}).items():
            if node.get("type") not in STEP_NODE_TYPES:
                continue
            pod = pods_by_node.get(node_id)
            state = STEP_STATES.get(node.get("phase") or "", "Pending")
            message = node.get("message") or ""
            if state == "Pending" and is_gated(pod):
                # Argo reads a pod behind Kueue's admission gate as merely Pending, no reason given.
                state, message = "Queued", WAITING_IN_LINE
            steps.append(
                {
                    "name": node.get("displayName") or node.get("name") or node_id,
                    "id": node_id,
                    "type": node.get("type"),
                    "state": state,
                    "message": message,
                    "started": node.get("startedAt"),
                    "finished": node.get("finishedAt"),
                    "pod": pod["metadata"]["name"] if pod else None,
                }
            )
        return sorted(steps, key=lambda s: (s["started"] or "", s["name"]))

    def cancel_patch(self, obj: dict) -> dict:
        # Argo's own "terminate": the controller stops every running step.
        return {"metadata": {"annotations": {CANCELLED: "true"}}, "spec": {"shutdown": "Terminate"}}

    def resubmit_manifest(self, obj: dict) -> dict:
        manifest = super().resubmit_manifest(obj)
        manifest["spec"].pop("shutdown", None)
        for key in ("workflows.argoproj.io/completed", "workflows.argoproj.io/phase"):
            (manifest["metadata"].get("labels") or {}).pop(key, None)
        return manifest

    def create(self, client, manifest: dict) -> dict:
        # Through the Argo Server when one is configured (Hera's WorkflowsService).
        if not client.argo_server_url:
            return super().create(client, manifest)
        return create_workflow(
            client.argo_server_url,
            client.kube.credentials.bearer_token(),
            client.namespace,
            manifest,
            verify=client.argo_server_ca_file or True,
            timeout=client.kube.timeout,
        )
