"""helm-values/grafana-dashboard.json: every query names a metric the suite really
exports, read from a live scrape.

The scrape renders, with prometheus_client's own exposition (what a Prometheus
server reads from /metrics): the job collector following the real API server as
the hub, and every registry the hub-side package defines (the default registry
and module-level registries of every ``jupyterhub_mlops`` module). The hub-side
services named in values.yaml (availability API, SSH gateway) export the GPU,
spawn and SSH metrics; until their modules are in the tree, the check of those
metrics is an expected failure, and it runs for real as soon as they are.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import importlib.util
import json
import pkgutil
import re

import jupyterhub_mlops
import kubernetes_asyncio
import prometheus_client
import pytest
import yaml
from jupyterhub_mlops.jobs_metrics import JobsCollector, JobsWatcher
from mlops_contract import metrics
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy import deploy_support
from tests.deploy.deploy_support import HELM_VALUES

DASHBOARD = json.loads((HELM_VALUES / "grafana-dashboard.json").read_text())
SUITE_METRIC = re.compile(r"\bjupyterhub_mlops_[A-Za-z0-9_:]*")
# The metric names the suite agreed on (README, "Grafana dashboard"); the dashboard uses no other.
AGREED = {
    "jupyterhub_mlops_gpus_total",
    "jupyterhub_mlops_gpus_free",
    "jupyterhub_mlops_gpus_held",
    "jupyterhub_mlops_gpus_held_by_user",
    "jupyterhub_mlops_gpu_reservations",
    "jupyterhub_mlops_spawn_refusals_total",
    "jupyterhub_mlops_spawns_total",
    "jupyterhub_mlops_inventory_in_sync",
    "jupyterhub_mlops_ssh_sessions",
    "jupyterhub_mlops_ssh_logins_total",
    "jupyterhub_mlops_ssh_channels_total",
    "jupyterhub_mlops_jobs",
}
SERVICE_MODULES = [
    s["command"][2]
    for s in yaml.safe_load((HELM_VALUES / "values.yaml").read_text())["hub"]["services"].values()
    if "command" in s
]
SERVICES_MISSING = [m for m in SERVICE_MODULES if importlib.util.find_spec(m) is None]


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every templating query."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']}", variable["definition"]))
    return found


def unknown_metrics(dashboard: dict, exported: set[str]) -> list[tuple[str, str]]:
    """(where, metric) for each suite metric a query names that ``exported`` lacks."""
    return [
        (where, name)
        for where, expr in queries(dashboard)
        for name in SUITE_METRIC.findall(expr)
        if name not in exported
    ]


def exported_names(exposition: str) -> set[str]:
    """The series names Prometheus stores from this exposition text (a counter family
    ``x`` is queried as ``x_total``; families without samples yet count too)."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name + "_total" if family.type == "counter" else family.name)
        names.update(sample.name for sample in family.samples)
    return names


def package_registries() -> list[CollectorRegistry]:
    """The default registry and every module-level registry of the hub-side package,
    after importing each of its modules (as the services do when they start)."""
    registries = [prometheus_client.REGISTRY]
    for module_info in pkgutil.walk_packages(jupyterhub_mlops.__path__, "jupyterhub_mlops."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        registries += [v for v in vars(module).values() if isinstance(v, CollectorRegistry) and v not in registries]
    return registries


@pytest.fixture
def user_namespaces(control_plane, core_v1):
    yield from deploy_support.user_namespaces(core_v1)


@pytest.fixture
async def live_scrape(control_plane, user_namespaces) -> str:
    """Exposition text of the suite's collectors, the job collector watching real jobs."""
    api = await kubernetes_asyncio.config.new_client_from_config(config_file=str(control_plane.kubeconfig("hub")))
    watcher = JobsWatcher(api)
    jobs = CollectorRegistry()
    jobs.register(JobsCollector(watcher.table))
    control_plane.kubectl(
        "create",
        "-n",
        user_namespaces[0],
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "w"},
                "spec": {"entrypoint": "m", "templates": [{"name": "m", "container": {"image": "x:1"}}]},
            }
        ),
    )
    task = asyncio.create_task(watcher.run())
    try:
        deadline = asyncio.get_running_loop().time() + 30
        # The real workflow-controller moves it on at once: any state will do.
        while not re.search(rb'kind="workflow",state="[A-Za-z]+"\} 1\.0', generate_latest(jobs)):
            assert asyncio.get_running_loop().time() < deadline, "the job collector saw nothing"
            await asyncio.sleep(0.1)
        yield "".join(generate_latest(r).decode() for r in [jobs, *package_registries()])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()


def test_dashboard_uses_only_the_agreed_metric_names_and_every_panel_has_one():
    for where, expr in queries(DASHBOARD):
        assert SUITE_METRIC.findall(expr), f"{where}: {expr} queries no suite metric"
    assert not unknown_metrics(DASHBOARD, AGREED)


def job_metrics_mixed(dashboard: dict) -> list[str]:
    """Queries that name both the hub's cluster-wide and a notebook's per-user jobs metric."""
    return [
        where
        for where, expr in queries(dashboard)
        if {metrics.JOBS, metrics.USER_JOBS} <= set(SUITE_METRIC.findall(expr))
    ]


def test_no_query_adds_the_users_jobs_to_the_clusters():
    assert not job_metrics_mixed(DASHBOARD)
    broken = copy.deepcopy(DASHBOARD)
    (panel,) = [p for p in broken["panels"] if p["title"] == "Jobs by state"]
    panel["targets"][0]["expr"] = f"sum by (state) ({metrics.JOBS}) + sum by (state) ({metrics.USER_JOBS})"
    assert job_metrics_mixed(broken) == ["Jobs by state"]


def test_an_unknown_metric_is_caught():
    broken = copy.deepcopy(DASHBOARD)
    broken["panels"][1]["targets"][0]["expr"] = "sum(jupyterhub_mlops_gpus_fre)"
    assert unknown_metrics(broken, AGREED) == [(broken["panels"][1]["title"], "jupyterhub_mlops_gpus_fre")]
    assert ("variable job_kind", "jupyterhub_mlops_jobs") not in unknown_metrics(broken, AGREED)


@pytest.mark.cluster
async def test_job_panels_name_what_the_live_scrape_exports(live_scrape):
    exported = exported_names(live_scrape)
    assert "jupyterhub_mlops_jobs" in exported
    job_queries = [(w, e) for w, e in queries(DASHBOARD) if "jupyterhub_mlops_jobs" in e]
    assert len(job_queries) >= 3  # two panels and the kind variable
    assert not unknown_metrics(
        {"panels": [{"title": w, "targets": [{"expr": e}]} for w, e in job_queries], "templating": {"list": []}},
        exported,
    )


@pytest.mark.cluster
@pytest.mark.xfail(
    bool(SERVICES_MISSING), strict=True, reason=f"exporters not in the tree yet: {', '.join(SERVICES_MISSING)}"
)
async def test_every_dashboard_metric_is_in_the_live_scrape(live_scrape):
    unknown = unknown_metrics(DASHBOARD, exported_names(live_scrape))
    assert not unknown, f"not exported: {sorted({name for _, name in unknown})}"
