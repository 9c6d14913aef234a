"""Argo's executor as the pod runner plays it: pure functions over a step pod as the
workflow-controller (v4.0.5) builds it. The end-to-end behaviour (the task result written
with the pod's own token, exit 64 when refused) is tested under the real controller in
tests/jobs/test_workflow_controller.py."""

from __future__ import annotations

import json

from mlops_cluster import argo_executor

SCRIPT = {"name": "hello", "script": {"image": "python:3.12", "command": ["python"], "source": "print('hi')\n"}}


def step_pod(template: dict = SCRIPT, include_result: str = "true") -> dict:
    executor_env = [
        {"name": "ARGO_NODE_ID", "value": "wf-123"},
        {"name": "ARGO_WORKFLOW_NAME", "value": "wf"},
        {"name": "ARGO_WORKFLOW_UID", "value": "uid-1"},
        {"name": "ARGO_INCLUDE_SCRIPT_OUTPUT", "value": include_result},
        {"name": "ARGO_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    return {
        "metadata": {"name": "wf-hello-123", "namespace": "ns", "labels": {"workflows.argoproj.io/workflow": "wf"}},
        "spec": {
            "initContainers": [
                {"name": "init", "env": [{"name": "ARGO_TEMPLATE", "value": json.dumps(template)}, *executor_env]}
            ],
            "containers": [
                {"name": "wait", "env": executor_env},
                {
                    "name": "main",
                    "command": ["/var/run/argo/argoexec", "emissary", "--loglevel", "info", "--", "python"],
                    "args": ["/argo/staging/script"],
                    "volumeMounts": [
                        {"name": "var-run-argo", "mountPath": "/var/run/argo"},
                        {"name": "argo-staging", "mountPath": "/argo/staging"},
                    ],
                },
            ],
            "volumes": [{"name": "var-run-argo", "emptyDir": {}}, {"name": "argo-staging", "emptyDir": {}}],
        },
    }


def test_a_step_pod_is_one_with_the_workflow_label_and_the_wait_and_main_containers():
    assert argo_executor.is_workflow_pod(step_pod())
    plain = step_pod()
    plain["spec"]["containers"] = plain["spec"]["containers"][1:]
    assert not argo_executor.is_workflow_pod(plain)


def test_the_emissary_runs_what_follows_its_double_dash():
    argv = ["/x/var-run-argo/argoexec", "emissary", "--loglevel", "info", "--", "python", "a.py"]
    assert argo_executor.unwrap_emissary(argv) == ["python", "a.py"]
    assert argo_executor.unwrap_emissary(["python", "a.py"]) == ["python", "a.py"]


def test_the_emissary_goes_from_the_shell_line_katib_wraps_a_workflow_trial_in():
    line = (
        "/var/run/argo/argoexec emissary --loglevel info -- python a.py --x 1 "
        "1>/var/log/katib/metrics.log 2>&1 && echo completed > /var/log/katib/$$.pid"
    )
    assert argo_executor.unwrap_emissary(["sh", "-c", line]) == [
        "sh",
        "-c",
        "python a.py --x 1 1>/var/log/katib/metrics.log 2>&1 && echo completed > /var/log/katib/$$.pid",
    ]
    assert argo_executor.unwrap_emissary(["sh", "-c", "echo -- emissary"]) == ["sh", "-c", "echo -- emissary"]


def test_the_script_is_staged_in_the_pods_own_folder(tmp_path):
    pod = step_pod()
    argv = ["/var/run/argo/argoexec", "emissary", "--", "python", str(tmp_path / "argo-staging" / "script")]
    assert argo_executor.local_step(pod, argv, tmp_path) == argv[3:]
    assert (tmp_path / "argo-staging" / "script").read_text() == "print('hi')\n"


def test_the_task_result_is_named_after_the_node_and_owned_by_the_workflow():
    result = argo_executor.task_result(step_pod())
    assert result["metadata"]["name"] == "wf-123"
    assert result["metadata"]["labels"] == {
        "workflows.argoproj.io/workflow": "wf",
        "workflows.argoproj.io/report-outputs-completed": "false",
    }
    assert result["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert argo_executor.outputs(step_pod(), "hi\n") == {"result": "hi"}
    assert argo_executor.outputs(step_pod(include_result="false"), "hi\n") == {}


def test_a_refused_wait_container_fails_the_pod_with_64():
    finished = {
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {"name": "wait", "state": {"terminated": {"exitCode": 0}}},
                {"name": "main", "state": {"terminated": {"exitCode": 0}}},
            ],
        }
    }
    status = argo_executor.step_status(finished, 64, "2026-12-01T00:00:00Z")["status"]
    assert status["phase"] == "Failed"
    states = {c["name"]: c["state"]["terminated"] for c in status["containerStatuses"]}
    assert (states["wait"]["exitCode"], states["wait"]["reason"]) == (64, "Error")
    assert states["main"]["exitCode"] == 0
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_without_a_token_the_wait_container_cannot_report():
    assert argo_executor.report_outputs(step_pod(), "", None) == argo_executor.EMISSARY_EXIT_CODE
