"""helm-values/values.yaml as data: its hub services, their ports and roles agree with
each other and with networkpolicies/hub.yaml, and the hub Service the chart extends
with those ports passes the real API server.

What the values do inside the chart (hub.extraConfig run by the chart's own
jupyterhub_config.py, the pods built for each profile) is tested on the rendered
chart, in the hub pod's mounts: test_deploy_chart.py.
"""

from __future__ import annotations

import json

import pytest
import yaml
from deploy_support import HELM_VALUES, load_all
from jupyterhub.scopes import scope_definitions

VALUES = yaml.safe_load((HELM_VALUES / "values.yaml").read_text())


def test_hub_services_and_their_roles_are_consistent():
    hub = VALUES["hub"]
    web_services = {name: s for name, s in hub["services"].items() if "url" in s}
    service_ports = {int(s["url"].rsplit(":", 1)[1]) for s in web_services.values()}
    assert service_ports <= {p["targetPort"] for p in hub["service"]["extraPorts"]}
    # Only the proxy may reach those ports (networkpolicies/hub.yaml).
    (policy,) = load_all(HELM_VALUES / "networkpolicies" / "hub.yaml")
    proxied = {p["port"] for rule in policy["spec"]["ingress"] if rule.get("from")
               for p in rule["ports"]}
    assert service_ports == proxied
    for name, service in web_services.items():
        assert service["command"][:2] == ["python3", "-m"], name
        assert service["command"][2].startswith("jupyterhub_mlops."), name
    for name, role in hub["loadRoles"].items():
        assert set(role.get("services", [])) <= set(hub["services"]), name
        # A scope may carry a filter (access:services!service=ssh): its base must exist,
        # and a service it names must be one of ours.
        for scope in role["scopes"]:
            base, _, scope_filter = scope.partition("!")
            assert base in scope_definitions, f"{name}: unknown scope {scope}"
            if scope_filter.startswith("service="):
                assert scope_filter.removeprefix("service=") in web_services, f"{name}: {scope}"


@pytest.mark.cluster
def test_hub_service_ports_pass_the_api_server(control_plane, namespace):
    """The chart adds hub.service.extraPorts to its hub Service: the API server must take
    them (port names are DNS labels, unique within the Service)."""
    ports = [{"name": "hub", "port": 8081, "targetPort": "http"},
             *VALUES["hub"]["service"]["extraPorts"]]
    result = control_plane.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-",
                                   check=False, input=json.dumps({
                                       "apiVersion": "v1", "kind": "Service",
                                       "metadata": {"name": "hub"},
                                       "spec": {"selector": {"component": "hub"},
                                                "ports": ports}}))
    assert result.returncode == 0, result.stderr
