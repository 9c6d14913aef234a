"""Argo's executor for the pod runner: what ``argoexec`` does in a workflow step's pod.

The workflow-controller gives every step's pod three executor parts around
the user's command (Argo v4, emissary executor):

- the ``init`` container copies ``argoexec`` into ``/var/run/argo`` and, for a
  script template, writes the script (``ARGO_TEMPLATE``'s ``script.source``) to
  ``/argo/staging/script``;
- the ``main`` container runs ``/var/run/argo/argoexec emissary ... -- <command>``;
- the ``wait`` container waits for ``main`` and reports the step's outputs as a
  ``WorkflowTaskResult`` named after the node, with the pod's own
  service-account token, then labels it complete. When the API server refuses
  that (the account lacks create/patch on workflowtaskresults) it exits 64 and
  the controller fails the step with ``wait: Error (exit code 64)``.

The pod runner has no containers, so this module is a thin stand-in for
``argoexec``, not a copy of it: ``init_files`` is the init container's
staging, ``unwrap_emissary`` the command the emissary would run, and
``report_outputs`` the wait container, acting with the pod's own token exactly
as the real one does (so a missing permission fails the step as it would on a
cluster). Reported: the script's result (its standard output, as Argo's
``outputs.result``). Not reported: output parameters and artifacts read from
files, which would need the real executor's file system.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from . import pod_volumes

log = logging.getLogger("mlops_cluster.argo_executor")

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
COMPLETED_LABEL = "workflows.argoproj.io/report-outputs-completed"
EMISSARY_EXIT_CODE = 64
"""What ``argoexec`` exits with when it, not the user's command, failed."""
SCRIPT_PATH = "/argo/staging/script"
MAX_RESULT_BYTES = 256 * 1024
"""Argo keeps at most this much of a script's output as its result."""


def is_workflow_pod(pod: dict) -> bool:
    """A pod the workflow-controller made for a step: the workflow label, ``wait`` and
    ``main`` containers."""
    labels = pod.get("metadata", {}).get("labels") or {}
    names = {c["name"] for c in pod.get("spec", {}).get("containers") or []}
    return WORKFLOW_LABEL in labels and {"wait", "main"} <= names


def _env(pod: dict, container_name: str, section: str = "containers") -> dict[str, str]:
    for container in pod["spec"].get(section) or []:
        if container["name"] == container_name:
            return {e["name"]: e.get("value", "") for e in container.get("env") or [] if "value" in e}
    return {}


def template(pod: dict) -> dict:
    """The step's template as the controller handed it to the init container."""
    raw = _env(pod, "init", "initContainers").get("ARGO_TEMPLATE")
    return json.loads(raw) if raw else {}


def init_files(pod: dict) -> dict[str, str]:
    """What the init container stages, by the path the main container reads it at."""
    script = template(pod).get("script")
    return {SCRIPT_PATH: script.get("source", "")} if script else {}


EXECUTOR_CONTAINERS = ("wait",)
"""Containers of a step's pod that are the executor's, played by this module, not run."""


def unwrap_emissary(argv: list[str]) -> list[str]:
    """The user's command that ``argoexec emissary [options] -- <command>`` runs.

    Also inside a shell line: Katib's pod webhook turns a Workflow trial's ``main``
    into ``sh -c "<argoexec emissary ... -- command> 1>metrics.log ... && echo completed ..."``,
    where the emissary's prefix goes and the rest of the line stays."""
    if len(argv) >= 2 and argv[0].endswith("/argoexec") and argv[1] == "emissary":
        if "--" in argv:
            return argv[argv.index("--") + 1 :]
    if len(argv) == 3 and argv[1] == "-c" and " emissary " in argv[2]:
        first, _, rest = argv[2].partition(" -- ")
        if first.split(" ")[0].endswith("/argoexec") and rest:
            return [argv[0], "-c", rest]
    return argv


def local_step(pod: dict, argv: list[str], pod_folder: Path) -> list[str]:
    """The init container's part (stage the script into the pod's own ``argo-staging``
    folder) and the command the emissary runs, for the pod runner's ``argv`` (whose
    mount paths are already the pod's folders)."""
    main = next(c for c in pod["spec"]["containers"] if c["name"] == "main")
    found = pod_volumes.mounts(pod, main, pod_folder)
    for path, text in init_files(pod).items():
        local = Path(pod_volumes.rewrite(path, found))
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text)
    return unwrap_emissary(argv)


def step_status(patch: dict, wait_exit_code: int, at: str) -> dict:
    """The pod runner's status patch for the finished ``main`` container, with the
    executor's containers as a kubelet reports them: ``init`` completed, ``wait``
    exited with ``wait_exit_code`` (the pod failed if it did not exit 0)."""
    status = patch["status"]
    for container in status.get("containerStatuses") or []:
        if container["name"] == "wait":
            container["state"] = {
                "terminated": {
                    "exitCode": wait_exit_code,
                    "reason": "Completed" if wait_exit_code == 0 else "Error",
                    "startedAt": at,
                    "finishedAt": at,
                }
            }
    status["initContainerStatuses"] = [
        {
            "name": "init",
            "image": "",
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": at, "finishedAt": at}},
        }
    ]
    if wait_exit_code != 0:
        status["phase"] = "Failed"
    return patch


def pod_api_client(env: dict[str, str]):
    """A ``kubernetes`` client with the pod's own service-account token, from the
    MLOPS_KUBE_* variables the pod runner gives the pod's process; None without them."""
    import kubernetes  # noqa: PLC0415 - the demo and tests have it

    if not env.get("MLOPS_KUBE_TOKEN_FILE"):
        return None
    config = kubernetes.client.Configuration()
    config.host = env["MLOPS_KUBE_SERVER"]
    config.ssl_ca_cert = env.get("MLOPS_KUBE_CA_FILE")
    token = Path(env["MLOPS_KUBE_TOKEN_FILE"]).read_text().strip()
    config.api_key = {"authorization": f"Bearer {token}"}
    return kubernetes.client.ApiClient(config)


def task_result(pod: dict) -> dict:
    """The WorkflowTaskResult the wait container creates first: named after the node,
    owned by the workflow, labelled incomplete."""
    env = _env(pod, "wait")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": env["ARGO_NODE_ID"],
            "labels": {WORKFLOW_LABEL: env["ARGO_WORKFLOW_NAME"], COMPLETED_LABEL: "false"},
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Workflow",
                    "name": env["ARGO_WORKFLOW_NAME"],
                    "uid": env["ARGO_WORKFLOW_UID"],
                }
            ],
        },
    }


def outputs(pod: dict, stdout: str) -> dict:
    """The step's outputs as the wait container reports them: the template's declared
    outputs, plus the script's result when the controller asked for it."""
    declared = dict(template(pod).get("outputs") or {})
    wants_result = _env(pod, "wait").get("ARGO_INCLUDE_SCRIPT_OUTPUT") == "true"
    if wants_result:
        declared["result"] = stdout.encode()[-MAX_RESULT_BYTES:].decode(errors="replace").strip()
    return declared


def report_outputs(pod: dict, stdout: str, api_client) -> int:
    """Play the wait container with ``api_client`` (the pod's own token): create the task
    result, report the outputs, mark it complete. Returns the wait container's exit code:
    0, or 64 when the API server refused (the message goes to the log, as argoexec's)."""
    import kubernetes  # noqa: PLC0415 - the demo and tests have it

    if api_client is None:  # no token: the API server would answer 401
        log.warning(
            "pod %s/%s: no service-account token to report the step's outputs with",
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
        )
        return EMISSARY_EXIT_CODE
    custom = kubernetes.client.CustomObjectsApi(api_client)
    namespace = pod["metadata"]["namespace"]
    body = task_result(pod)
    name = body["metadata"]["name"]
    group = ("argoproj.io", "v1alpha1", namespace, "workflowtaskresults")
    try:
        try:
            custom.create_namespaced_custom_object(*group, body, _request_timeout=10)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
        custom.patch_namespaced_custom_object(*group, name, {"outputs": outputs(pod, stdout)}, _request_timeout=10)
        custom.patch_namespaced_custom_object(
            *group, name, {"metadata": {"labels": {COMPLETED_LABEL: "true"}}}, _request_timeout=10
        )
    except kubernetes.client.ApiException as error:
        log.warning(
            "pod %s/%s: failed to patch task result (%s %s), see "
            "https://argo-workflows.readthedocs.io/en/latest/workflow-rbac/",
            namespace,
            pod["metadata"]["name"],
            error.status,
            error.reason,
        )
        return EMISSARY_EXIT_CODE
    return 0
