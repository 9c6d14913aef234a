"""The SSH help both notebook UIs print produces logins the gateway reads as meant."""

from __future__ import annotations

import pytest
from jupyterhub_mlops.ssh.names import candidates, validate_login
from mlops_contract.ssh import connection_help


def test_default_server_on_a_custom_port():
    assert connection_help("alice", "", "ssh.example.org", 2222) == {
        "login": "alice",
        "host_alias": "jupyterhub",
        "command": "ssh -p 2222 alice@ssh.example.org",
        "config": "Host jupyterhub\n    HostName ssh.example.org\n    User alice\n    Port 2222\n"
        "    ServerAliveInterval 30\n",
    }


def test_named_server_on_port_22_with_the_operators_alias():
    got = connection_help("bob", "gpu", "hub.example.org", 22, alias="lab")
    assert got["login"] == "bob.gpu" and got["host_alias"] == "lab"
    assert got["command"] == "ssh bob.gpu@hub.example.org"
    assert got["config"] == "Host lab\n    HostName hub.example.org\n    User bob.gpu\n    ServerAliveInterval 30\n"
    assert connection_help("bob", "gpu", "h", 22)["host_alias"] == "jupyterhub-gpu"


@pytest.mark.parametrize(
    "user, server",
    [
        ("alice", ""),
        ("alice", "gpu"),
        ("alice.smith", ""),
        ("alice.smith", "big-run"),
        ("carol@example.org", "a100"),
    ],
)
def test_the_printed_login_is_read_by_the_gateway_as_that_users_server(user, server):
    login = connection_help(user, server, "hub.example.org", 22)["login"]
    assert validate_login(login) == login
    readings = {(t.user, t.server) for t in candidates(login)}
    assert (user, server) in readings
