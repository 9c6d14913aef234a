"""What several %mlops test modules check: a mistake's one line, and that nothing was created."""

from __future__ import annotations

import kubernetes


def cell(header: str) -> str:
    """A cell: the magic's line, then a body that prints a metric."""
    return f"{header}\nprint('accuracy=0.9')\n"


def job_names(controller, namespace: str) -> set[str]:
    """Every job and ConfigMap in the namespace (kinds whose CRD is missing have none)."""
    names = set()
    for kind in ("pytorchjob", "sweep", "workflow"):
        group, version, plural = controller.GROUPS[kind]
        try:
            items = controller.custom.list_namespaced_custom_object(group, version, namespace, plural)["items"]
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
            items = []
        names |= {f"{kind}/{i['metadata']['name']}" for i in items}
    return names | {f"cm/{c.metadata.name}" for c in controller.core.list_namespaced_config_map(namespace).items}


def serves_experiments(controller) -> bool:
    try:
        controller.custom.list_cluster_custom_object("kubeflow.org", "v1beta1", "experiments")
        return True
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
        return False


def assert_one_line(result, says: str) -> None:
    assert not result.ok, "a mistake fails the cell, so Run All stops there"
    assert result.errors == [], "no traceback"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("UsageError: ")
    assert says in lines[0], lines[0]
