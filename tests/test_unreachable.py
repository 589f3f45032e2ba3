"""Servers that do not answer, wrong passwords and TLS mismatches: exit 3, fast, one line, and no password shown."""
from __future__ import annotations

import contextlib
import json
import socket
import time

import pytest

from simlib import Lab
from simlib.errors import EXIT_UNREACHABLE, ServerUnavailable
from simlib.lab import PREFLIGHT_TIMEOUT_S
from simlib.servers import free_port
from simlib.urls import mask_url, redact

from robust_support import other_server, simlib_cli

pytestmark = pytest.mark.integration

FIVE_DEAD_BUDGET_S = 3.0


@contextlib.contextmanager
def hung_listeners(count: int):
    """Ports that accept a TCP connection (the kernel's backlog) but never answer a byte: a hung server."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            sockets.append(sock)
        yield [f"redis://127.0.0.1:{s.getsockname()[1]}/0" for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def refused_urls(count: int) -> list[str]:
    return [f"redis://127.0.0.1:{free_port()}/0" for _ in range(count)]


def lock_flags(urls: list[str]) -> list[str]:
    return [part for url in urls for part in ("--lock-url", url)]


def test_five_dead_lock_servers_fail_together_within_3_seconds():
    with hung_listeners(2) as hung:
        urls = refused_urls(3) + hung
        started = time.monotonic()
        done = simlib_cli("burst", "--strategy", "redlock", "--quiet", *lock_flags(urls), timeout=30)
        elapsed = time.monotonic() - started
    assert done.returncode == EXIT_UNREACHABLE, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert "is unreachable" in done.stderr and "(and 4 more of the 5 servers failed too)" in done.stderr
    assert elapsed < FIVE_DEAD_BUDGET_S, f"five dead servers took {elapsed:.2f} s (whole process)"


def test_the_preflight_of_hung_servers_costs_one_timeout_not_five():
    with hung_listeners(5) as hung:
        started = time.monotonic()
        with pytest.raises(ServerUnavailable, match="did not|unreachable"):
            Lab(lock_urls=hung).start()
        elapsed = time.monotonic() - started
    assert elapsed < 2 * PREFLIGHT_TIMEOUT_S + 0.5, f"{elapsed:.2f} s"


@pytest.fixture(scope="module")
def guarded():
    """A server with a password, as users run them."""
    with other_server("guarded") as server:
        yield server


def test_a_wrong_password_is_exit_3_and_never_shown(guarded, tmp_path):
    wrong = "Wr0ngHorseBatteryStaple"
    url = f"redis://:{wrong}@127.0.0.1:{guarded.port}/0"
    done = simlib_cli("burst", "--redis-url", url, "--out", str(tmp_path / "run"), "--json")
    assert done.returncode == EXIT_UNREACHABLE and done.stdout == ""
    assert done.stderr == f"simlib: store server redis://:***@127.0.0.1:{guarded.port}/0: authentication failed " \
                          "(wrong user or password); check the credentials in the URL\n"
    assert wrong not in done.stdout + done.stderr
    assert not any(wrong in p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_a_missing_password_says_to_put_one_in_the_url(guarded):
    done = simlib_cli("burst", "--redis-url", f"redis://127.0.0.1:{guarded.port}/0", "--quiet")
    assert done.returncode == EXIT_UNREACHABLE
    assert "requires a password: put it in the URL" in done.stderr and done.stderr.count("\n") == 1


def test_tls_to_a_plain_server_fails_fast_with_a_clear_line(guarded):
    url = f"rediss://:{guarded.password}@127.0.0.1:{guarded.port}/0"
    started = time.monotonic()
    done = simlib_cli("burst", "--redis-url", url, "--quiet")
    elapsed = time.monotonic() - started
    assert done.returncode == EXIT_UNREACHABLE
    assert "the port speaks plain Redis: use redis:// instead of rediss://" in done.stderr
    assert guarded.password not in done.stderr and done.stderr.count("\n") == 1
    assert elapsed < FIVE_DEAD_BUDGET_S, f"{elapsed:.2f} s"


def test_a_missing_unix_socket_is_exit_3(tmp_path):
    done = simlib_cli("burst", "--redis-url", f"unix://{tmp_path}/redis.sock", "--quiet")
    assert done.returncode == EXIT_UNREACHABLE and "is unreachable" in done.stderr


def test_the_right_password_appears_nowhere_after_a_run(guarded, tmp_path):
    with other_server("locks-1") as a, other_server("locks-2") as b, other_server("locks-3") as c:
        out = tmp_path / "run"
        done = simlib_cli("burst", "--strategy", "redlock", "--users", "300", "--redis-url", guarded.url,
                          *lock_flags([a.url, b.url, c.url]), "--out", str(out), "--json")
        secrets = [s.password for s in (guarded, a, b, c)]
    assert done.returncode == 0, done.stderr
    written = "".join(p.read_text() for p in out.iterdir())
    for secret in secrets:
        assert secret not in done.stdout + done.stderr + written
    config = json.loads((out / "config.json").read_text())
    assert config["scenario"]["redis_url"] == mask_url(guarded.url)
    assert all("***" in arg for arg in config["argv"] if "://" in arg)


@pytest.mark.parametrize("text, shown", [
    ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
    ("rediss://user:pa%40ss@h:1", "rediss://user:***@h:1"),
    ("--redis-url=redis://u:s3cret@10.0.0.1:6379/2", "--redis-url=redis://u:***@10.0.0.1:6379/2"),
    ("unix:///tmp/r.sock?db=1&password=s3cret", "unix:///tmp/r.sock?db=1&password=***"),
    ("Error connecting to redis://:x@h:1 (and redis://:y@k:2)", "Error connecting to redis://:***@h:1 (and redis://:***@k:2)"),
    ("redis://h:1/0", "redis://h:1/0"),
    ("redis://:p@ss@h:1/0", "redis://:***@h:1/0"),
    ("redis://:pw@[::1", "redis://:***@[::1"),
    ("argument: 'rediss://u:pw@h:1/0?db=2'", "argument: 'rediss://u:***@h:1/0?db=2'"),
])
def test_redact_masks_every_password_in_free_text(text, shown):
    assert redact(text) == shown


def test_reprs_hide_passwords(guarded):
    from simlib import Scenario
    from simlib.lab import preflight

    endpoint = preflight("store", guarded.url)
    for shown in (repr(Scenario(redis_url=guarded.url)), repr(endpoint), repr(guarded)):
        assert guarded.password not in shown


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A TLS-only server on loopback with a throwaway self-signed certificate (skipped without openssl or TLS)."""
    import shutil
    import subprocess

    from simlib.servers import find_binary
    from robust_support import wait_for

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=simlib-test",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    port, password = free_port(), "tls-test-secret"
    config = (f"bind 127.0.0.1\nport 0\ntls-port {port}\ntls-cert-file {folder}/cert.pem\ntls-key-file {folder}/key.pem\n"
              f"tls-auth-clients no\nrequirepass {password}\nsave \"\"\nappendonly no\ndir {folder}\n")
    process = subprocess.Popen([find_binary(), "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    process.stdin.write(config.encode())
    process.stdin.close()

    def listening():
        if process.poll() is not None:
            pytest.skip("this server binary was built without TLS")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        return False

    try:
        wait_for(listening, timeout=10, what="the TLS server")
        yield port, password
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("scheme, expected", [
    ("redis", "closed the connection"),  # plain to a TLS port: the hint says to use rediss://
    ("rediss", "certificate verify failed"),  # the self-signed certificate is not trusted by default
])
def test_tls_mismatches_are_exit_3_with_the_reason(tls_server, scheme, expected):
    port, password = tls_server
    done = simlib_cli("burst", "--redis-url", f"{scheme}://:{password}@127.0.0.1:{port}/0", "--quiet")
    assert done.returncode == EXIT_UNREACHABLE and expected in done.stderr, done.stderr
    assert password not in done.stderr and done.stderr.count("\n") == 1


def test_a_tls_server_works_when_the_url_says_rediss(tls_server):
    port, password = tls_server
    url = f"rediss://:{password}@127.0.0.1:{port}/0?ssl_cert_reqs=none"  # the test certificate is self-signed
    done = simlib_cli("burst", "--strategy", "atomic", "--users", "300", "--redis-url", url, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["audit_valid"] and password not in done.stdout + done.stderr
