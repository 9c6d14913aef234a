"""Which connections a set of NetworkPolicies admits: the ingress half of the
Kubernetes NetworkPolicy semantics, as a pure function.

The local cluster has no network plugin that enforces NetworkPolicies, so the
deployment tests read the policies back from the real API server (after its
validation and defaulting) and ask this model what they admit. The model is held
to the documented semantics by its own unit tests (test_deploy_network_policy_model.py).

Not modelled, on purpose: named ports (the suite's policies use numbers, and
``admits`` refuses a named port rather than guess) and egress.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """A pod as the network sees it: where it lives, its labels, its IP."""

    namespace: str
    labels: dict = field(default_factory=dict)
    ip: str = "10.0.0.1"


class UnsupportedPolicy(ValueError):
    """The policy uses a feature this model does not evaluate (e.g. a named port)."""


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector against a label set; an empty selector matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise UnsupportedPolicy(f"unknown selector operator {op!r}")
    return True


def _peer_matches(peer: dict, policy_namespace: str, source: Endpoint, namespace_labels: dict[str, dict]) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(source.ip)
        if ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(ip in ipaddress.ip_network(c) for c in block.get("except") or [])
    pod_selector = peer.get("podSelector")
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        # A podSelector alone means pods of the policy's own namespace.
        in_namespace = source.namespace == policy_namespace
    else:
        in_namespace = selector_matches(ns_selector, namespace_labels.get(source.namespace, {}))
    return in_namespace and selector_matches(pod_selector, source.labels)


def _port_matches(rule_ports: list | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True  # no ports: every port
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        first = entry["port"]
        if not isinstance(first, int):
            raise UnsupportedPolicy(f"named port {first!r}: use port numbers")
        last = entry.get("endPort", first)
        if first <= port <= last:
            return True
    return False


def admits(
    policies: list[dict],
    namespace_labels: dict[str, dict],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether ``source`` may open ``port`` on ``destination`` (ingress rules only).

    ``policies`` are NetworkPolicy objects as dicts (metadata.namespace set, as the
    API server returns them); ``namespace_labels`` maps each namespace to its labels.
    A destination selected by no ingress policy of its namespace is not isolated.
    """
    isolating = [
        p
        for p in policies
        if p["metadata"]["namespace"] == destination.namespace
        and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
        and selector_matches(p["spec"].get("podSelector"), destination.labels)
    ]
    if not isolating:
        return True
    for policy in isolating:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            peer_ok = not peers or any(
                _peer_matches(peer, policy["metadata"]["namespace"], source, namespace_labels) for peer in peers
            )
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False
