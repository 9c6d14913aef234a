"""The NetworkPolicy model the deployment tests rely on, held to the semantics of
https://kubernetes.io/docs/concepts/services-networking/network-policies/ (pure)."""

from __future__ import annotations

import pytest

from tests.deploy.network_policy_model import Endpoint, UnsupportedPolicy, admits, selector_matches

NS = {"a": {"kubernetes.io/metadata.name": "a", "team": "x"}, "b": {"kubernetes.io/metadata.name": "b"}}
WEB = Endpoint("a", {"app": "web"}, "10.1.0.5")
CLIENT_A = Endpoint("a", {"role": "client"}, "10.1.0.6")
CLIENT_B = Endpoint("b", {"role": "client"}, "10.2.0.6")
OTHER_A = Endpoint("a", {"role": "other"}, "10.1.0.7")


def policy(ingress, namespace="a", selector=None, types=("Ingress",)):
    if selector is None:
        selector = {"matchLabels": {"app": "web"}}
    return {
        "metadata": {"name": "p", "namespace": namespace},
        "spec": {"podSelector": selector, "policyTypes": list(types), "ingress": ingress},
    }


def test_a_pod_no_policy_selects_accepts_everything():
    assert admits([policy([], selector={"matchLabels": {"app": "db"}})], NS, CLIENT_B, WEB, 80)
    assert admits([], NS, CLIENT_B, WEB, 80)


def test_a_selected_pod_with_no_rule_accepts_nothing():
    assert not admits([policy([])], NS, CLIENT_A, WEB, 80)


def test_egress_only_policy_does_not_isolate_ingress():
    assert admits([policy([], types=("Egress",))], NS, CLIENT_B, WEB, 80)


def test_pod_selector_alone_means_the_policy_namespace():
    rules = [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]
    assert admits([policy(rules)], NS, CLIENT_A, WEB, 80)
    assert not admits([policy(rules)], NS, CLIENT_B, WEB, 80)
    assert not admits([policy(rules)], NS, OTHER_A, WEB, 80)


def test_namespace_and_pod_selector_in_one_peer_is_and_in_two_peers_is_or():
    both = [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"team": "x"}},
                    "podSelector": {"matchLabels": {"role": "client"}},
                }
            ]
        }
    ]
    either = [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"team": "x"}}},
                {"podSelector": {"matchLabels": {"role": "client"}}},
            ]
        }
    ]
    assert admits([policy(both)], NS, CLIENT_A, WEB, 80)
    assert not admits([policy(both)], NS, OTHER_A, WEB, 80)
    assert not admits([policy(both)], NS, CLIENT_B, WEB, 80)
    assert admits([policy(either)], NS, OTHER_A, WEB, 80)
    assert not admits([policy(either)], NS, CLIENT_B, WEB, 80)


def test_ports_protocols_and_ranges():
    rules = [{"ports": [{"port": 2222}, {"protocol": "UDP", "port": 53}, {"port": 9000, "endPort": 9010}]}]
    assert admits([policy(rules)], NS, CLIENT_B, WEB, 2222)
    assert not admits([policy(rules)], NS, CLIENT_B, WEB, 2223)
    assert not admits([policy(rules)], NS, CLIENT_B, WEB, 53)
    assert admits([policy(rules)], NS, CLIENT_B, WEB, 53, "UDP")
    assert admits([policy(rules)], NS, CLIENT_B, WEB, 9005)
    assert not admits([policy(rules)], NS, CLIENT_B, WEB, 9011)


def test_policies_add_up():
    ssh = policy([{"ports": [{"port": 2222}], "from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}])
    web = policy([{"ports": [{"port": 8888}]}])
    assert admits([ssh, web], NS, CLIENT_B, WEB, 8888)
    assert not admits([ssh, web], NS, CLIENT_B, WEB, 2222)
    assert admits([ssh, web], NS, CLIENT_A, WEB, 2222)


def test_ip_blocks_with_exceptions():
    rules = [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.2.0.0/16"]}}]}]
    assert admits([policy(rules)], NS, CLIENT_A, WEB, 80)
    assert not admits([policy(rules)], NS, CLIENT_B, WEB, 80)


def test_match_expressions():
    labels = {"component": "worker"}
    assert selector_matches(
        {"matchExpressions": [{"key": "component", "operator": "NotIn", "values": ["singleuser-server"]}]}, labels
    )
    assert selector_matches({"matchExpressions": [{"key": "component", "operator": "NotIn", "values": ["x"]}]}, {})
    assert not selector_matches({"matchExpressions": [{"key": "component", "operator": "In", "values": ["x"]}]}, {})
    assert selector_matches({"matchExpressions": [{"key": "component", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "component", "operator": "DoesNotExist"}]}, labels)


def test_named_ports_are_refused_rather_than_guessed():
    with pytest.raises(UnsupportedPolicy):
        admits([policy([{"ports": [{"port": "notebook-port"}]}])], NS, CLIENT_A, WEB, 8888)
