"""helm-values/values.yaml as data: its hub services, their ports and roles agree with
each other and with networkpolicies/hub.yaml, and the hub Service the chart extends
with those ports passes the real API server.

What the values do inside the chart (hub.extraConfig run by the chart's own
jupyterhub_config.py, the pods built for each profile) is tested on the rendered
chart, in the hub pod's mounts: test_deploy_chart.py.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from jupyterhub.scopes import scope_definitions

from tests.deploy.deploy_support import HELM_VALUES, REPO, load_all

VALUES = yaml.safe_load((HELM_VALUES / "values.yaml").read_text())
MARKER = "FILL IN"


def marked_paths(text: str) -> set[str]:
    """The dotted paths of the keys marked ``FILL IN`` in a values file: on the key's
    own line, or in the comment lines right above it."""
    marked, stack, pending = set(), [], False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = False  # a blank line ends a comment block: it marks nothing below
            continue
        if stripped.startswith("#"):
            pending = pending or MARKER in stripped
            continue
        key = re.match(r"( *)([\w.-]+):", line)
        if key is None:  # a list item or a continuation line
            pending = False
            continue
        indent = len(key.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key.group(2)))
        if pending or MARKER in line:
            marked.add(".".join(name for _, name in stack))
        pending = False
    return marked


def readme_fill_in_paths(readme: str) -> set[str]:
    """The values paths the README's "What only you can fill in" table names:
    `a.b.c`, or `a.b`: `c`, `d` for several fields under one path."""
    section = readme.split("**What only you can fill in**", 1)[1].split("\n\n", 1)[1]
    table = section.split("\n\n", 1)[0]
    paths = set()
    for row in table.splitlines()[2:]:
        where = row.strip("|").split("|")[-1]
        base = None
        for name in re.findall(r"`([^`]+)`", where):
            if "." in name and name.split(".")[0] in VALUES:
                base = name
                paths.add(name)
            elif base and re.fullmatch(r"\w+", name):
                paths.discard(base)
                paths.add(f"{base}.{name}")
    return paths


def test_hub_services_and_their_roles_are_consistent():
    hub = VALUES["hub"]
    web_services = {name: s for name, s in hub["services"].items() if "url" in s}
    service_ports = {int(s["url"].rsplit(":", 1)[1]) for s in web_services.values()}
    assert service_ports <= {p["targetPort"] for p in hub["service"]["extraPorts"]}
    # Only the proxy may reach those ports (networkpolicies/hub.yaml).
    (policy,) = load_all(HELM_VALUES / "networkpolicies" / "hub.yaml")
    proxied = {p["port"] for rule in policy["spec"]["ingress"] if rule.get("from") for p in rule["ports"]}
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
    ports = [{"name": "hub", "port": 8081, "targetPort": "http"}, *VALUES["hub"]["service"]["extraPorts"]]
    result = control_plane.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        check=False,
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "hub"},
                "spec": {"selector": {"component": "hub"}, "ports": ports},
            }
        ),
    )
    assert result.returncode == 0, result.stderr


def test_every_place_to_fill_in_is_marked_and_named_in_the_readme():
    """The README's table and the FILL IN markers of values.yaml name the same places."""
    marked = marked_paths((HELM_VALUES / "values.yaml").read_text())
    named = readme_fill_in_paths((REPO / "README.md").read_text())
    assert {"hub.image", "singleuser.image", "proxy.https.hosts"} <= named
    unmarked = {p for p in named if not any(m == p or m.startswith(p + ".") for m in marked)}
    assert not unmarked, f"named in the README, not marked {MARKER} in values.yaml: {unmarked}"
    unnamed = {m for m in marked if not any(m == p or m.startswith(p + ".") for p in named)}
    assert not unnamed, f"marked {MARKER} in values.yaml, not named in the README: {unnamed}"


def test_marked_paths_reads_markers_on_the_line_and_in_the_comment_right_above():
    text = "\n".join(
        [
            "# a header that says FILL IN",
            "",
            "a:",
            "  b: 1  # FILL IN",
            "  # FILL IN below",
            "  c:",
            "    - x",
            "  d: 2",
            "e: 3",
        ]
    )
    assert marked_paths(text) == {"a.b", "a.c"}
