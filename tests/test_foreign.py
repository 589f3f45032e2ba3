"""Someone else's Redis: refused unless --allow-foreign, and then nothing of theirs is touched, byte for byte.

Also refused: replicas, cluster mode, eviction, and two URLs that reach the same server. ``simlib clean`` removes
simlib's keys only. No FLUSHDB, FLUSHALL or KEYS ever reaches the server (INFO commandstats says so).
"""
from __future__ import annotations

import pytest

from simlib.errors import EXIT_OK, EXIT_REFUSED
from simlib.lab import preflight

from robust_support import (client_of, digest, forbidden_commands_run, other_server, seed_foreign_keys, simlib_cli,
                            simlib_keys)

pytestmark = pytest.mark.integration

SINGLE_SERVER = "naive,setnx,optimistic,atomic"


@pytest.fixture(scope="module")
def shop():
    """The user's server: 1,000 keys of their own, of every type."""
    with other_server("shop") as server:
        client = client_of(server)
        seed_foreign_keys(client, 1000)
        yield server, client, digest(client)
        client.close()


def test_a_server_with_foreign_keys_is_refused_and_left_as_it_was(shop):
    server, client, before = shop
    done = simlib_cli("burst", "--redis-url", server.url, "--quiet")
    assert done.returncode == EXIT_REFUSED and done.stdout == ""
    assert "holds keys that are not simlib's (1,000 keys in this database)" in done.stderr
    assert "--allow-foreign" in done.stderr and done.stderr.count("\n") == 1
    assert server.password not in done.stderr
    assert digest(client) == before and simlib_keys(client) == []
    assert forbidden_commands_run(client) == {}


def test_with_allow_foreign_only_the_runs_prefix_is_touched(shop):
    server, client, before = shop
    done = simlib_cli("compare", "--strategies", SINGLE_SERVER, "--users", "500", "--seats", "5", "--hold-ms", "1",
                      "--redis-url", server.url, "--allow-foreign", "--quiet")
    assert done.returncode == EXIT_OK, done.stderr
    assert digest(client) == before, "a foreign key changed"
    assert simlib_keys(client) == [], "a simlib key was left behind"
    assert forbidden_commands_run(client) == {}
    assert client.info("commandstats")["cmdstat_unlink"]["calls"] >= 1  # the run's own keys went by UNLINK


def test_redlock_on_foreign_lock_servers_leaves_them_as_they_were(shop):
    server, client, before = shop
    with other_server("lock-a") as a, other_server("lock-b") as b, other_server("lock-c") as c:
        lock_clients = [client_of(s) for s in (a, b, c)]
        for lock_client in lock_clients:
            seed_foreign_keys(lock_client, 200)
        lock_before = [digest(lc) for lc in lock_clients]
        flags = [part for s in (a, b, c) for part in ("--lock-url", s.url)]
        done = simlib_cli("burst", "--strategy", "redlock", "--users", "300", "--redis-url", server.url, *flags,
                          "--allow-foreign", "--quiet")
        assert done.returncode == EXIT_OK, done.stderr
        assert [digest(lc) for lc in lock_clients] == lock_before
        assert all(simlib_keys(lc) == [] and forbidden_commands_run(lc) == {} for lc in lock_clients)
        for lock_client in lock_clients:
            lock_client.close()
    assert digest(client) == before


def test_a_server_holding_only_simlib_keys_is_not_foreign(shop):
    with other_server("leftovers") as server:
        client = client_of(server)
        client.set("simlib:0123456789ab:seat:0", "7")
        assert preflight("store", server.url).server_run_id
        client.close()


def test_clean_removes_one_run_or_every_run_and_nothing_else(shop):
    server, client, before = shop
    client.set("simlib:aaaaaaaaaaaa:seat:0", "1")
    client.rpush("simlib:aaaaaaaaaaaa:ledger", "0:1:t")
    client.set("simlib:bbbbbbbbbbbb:seat:3", "2")
    done = simlib_cli("clean", "--redis-url", server.url, "--run", "aaaaaaaaaaaa")
    assert done.returncode == EXIT_OK, done.stderr
    assert "removed 2 simlib keys" in done.stdout and server.password not in done.stdout
    assert simlib_keys(client) == [b"simlib:bbbbbbbbbbbb:seat:3"]
    done = simlib_cli("clean", "--redis-url", server.url, "--all-runs")
    assert done.returncode == EXIT_OK and "removed 1 simlib key" in done.stdout
    assert simlib_keys(client) == [] and digest(client) == before
    assert forbidden_commands_run(client) == {}


@pytest.mark.parametrize("setup, expected", [
    ("replica", "is a replica (role slave); point simlib at a primary"),
    ("eviction", "evicts keys under memory pressure (maxmemory-policy allkeys-lru)"),
    ("cluster", "runs in cluster mode"),
])
def test_unsafe_servers_are_refused(setup, expected):
    with other_server("primary") as primary:
        extra = {
            "replica": {"replicaof": f"127.0.0.1 {primary.port}", "masterauth": primary.password},
            "eviction": {"maxmemory": "64mb", "maxmemory_policy": "allkeys-lru"},
            "cluster": {"cluster_enabled": "yes", "cluster_config_file": "nodes.conf"},
        }[setup]
        with other_server(setup, **extra) as unsafe:
            done = simlib_cli("burst", "--redis-url", unsafe.url, "--allow-foreign", "--quiet")
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert expected in done.stderr and done.stderr.count("\n") == 1


def test_two_urls_reaching_the_same_server_are_refused():
    with other_server("one") as one, other_server("two") as two:
        same_again = one.url.removesuffix("/0")  # another spelling of the same server
        flags = ["--lock-url", one.url, "--lock-url", same_again, "--lock-url", two.url]
        done = simlib_cli("burst", "--strategy", "redlock", *flags, "--quiet")
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert "reach the same server (run_id" in done.stderr and "Redlock needs independent servers" in done.stderr
    assert one.password not in done.stderr
