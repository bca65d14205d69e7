"""Tier segmentation: who can reach whom. Docker's networks keep the edge away from the
data tier; pg_hba.conf admits pgpool hosts (the app's role) and the peer database node
(replication) only; memcached listens on the app network only."""

from __future__ import annotations

import subprocess

import pytest
from conftest import address, addresses, lab_host

# A PostgreSQL startup message, then the server's first answer: 'R' asks for a password
# (pg_hba.conf admitted the connection), 'E' is an error (its text follows).
PG_PROBE = """
import socket, struct, sys
host, user, database = sys.argv[1:4]
# pg_hba.conf's "replication" matches physical replication connections only.
target = ("replication", "true") if database == "replication" else ("database", database)
body = struct.pack("!I", 196608) + b"".join(
    k.encode() + b"\\0" + v.encode() + b"\\0" for k, v in (("user", user), target)
) + b"\\0"
with socket.create_connection((host, 5432), timeout=3) as s:
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    answer = s.recv(4096)
if answer[:1] == b"R":
    print("password asked")
else:
    fields = dict((f[:1], f[1:]) for f in answer[5:].split(b"\\0") if f)
    print(fields.get(b"M", answer).decode(errors="replace"))
"""


def reachable(source: str, target: str, port: int = 9) -> bool:
    """A TCP connect from source to any of target's addresses: refused means reachable
    (nothing listens on 9, the discard port), a time-out means Docker dropped it. 3 s."""
    host = lab_host(source)
    probes = [
        host.run("timeout 3 bash -c %s", f"exec 3<>/dev/tcp/{ip}/{port}")
        for ip in addresses(target).values()
    ]
    return any(p.rc == 0 or "Connection refused" in p.stderr for p in probes)


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("varnish1", "lb1", True),  # edge
        ("lb1", "web1", True),  # app
        ("web1", "db1", True),  # data
        ("db1", "db2", True),  # the peers
        ("db1", "backup1", True),  # the WAL archive
        # The edge never reaches the data tier, nor the app servers past nginx.
        ("varnish1", "db1", False),
        ("varnish1", "db2", False),
        ("lb1", "db1", False),
        ("lb1", "db2", False),
        ("varnish1", "web1", False),
        ("cache1", "db1", False),
        # The backup repository serves the data tier alone.
        ("varnish1", "backup1", False),
        ("lb1", "backup1", False),
        ("cache1", "backup1", False),
    ],
)
def test_networks_segment_the_tiers(source: str, target: str, expected: bool) -> None:
    assert reachable(source, target) == expected


@pytest.mark.parametrize("cache", ["cache1", "cache2"])
def test_memcached_is_unreachable_from_the_edge_and_answers_the_app_servers(cache: str) -> None:
    assert not reachable("varnish1", cache, 11211)
    ip = address(cache, "app")
    assert lab_host(cache).socket(f"tcp://{ip}:11211").is_listening
    assert not lab_host(cache).socket("tcp://0.0.0.0:11211").is_listening
    for web in ("web1", "web2"):
        session = lab_host(web).check_output(
            "bash -c %s",
            f"exec 3<>/dev/tcp/{ip}/11211 && printf 'set lab:{web} 0 30 2\\r\\nok\\r\\n"
            f"get lab:{web}\\r\\nquit\\r\\n' >&3 && timeout 5 cat <&3",
        )
        assert session.split() == ["STORED", "VALUE", f"lab:{web}", "0", "2", "ok", "END"]


def test_primary_listens_on_the_data_network_only() -> None:
    listeners = lab_host("db1").check_output("ss -Htln 'sport = :5432' | awk '{print $4}'")
    assert listeners.split() == [f"{address('db1', 'data')}:5432"]


def pg_answer(source: str, user: str, database: str, target: str = "db1") -> str:
    return lab_host(source).check_output(
        "python3 -c %s %s %s %s", PG_PROBE, address(target, "data"), user, database
    )


@pytest.mark.parametrize(
    ("source", "user", "database", "admitted"),
    [
        ("web1", "django", "django", True),  # the app, through its local pgpool
        ("web2", "django", "django", True),
        ("web1", "pgpool", "postgres", True),  # pgpool's health checks
        ("witness1", "pgpool", "postgres", True),  # the watchdog witness's health checks
        ("witness1", "django", "django", False),  # the witness serves no client
        ("db2", "replicator", "replication", True),  # the peer streams
        ("db2", "django", "django", False),  # the peer is not an app server
        ("web1", "replicator", "replication", False),  # an app server does not replicate
        ("web1", "postgres", "postgres", False),  # the superuser: local socket only
    ],
)
def test_postgresql_admits_pgpool_hosts_and_its_peer_only(
    source: str, user: str, database: str, admitted: bool
) -> None:
    answer = pg_answer(source, user, database)
    if admitted:
        assert answer.strip() == "password asked"
    else:
        assert "no pg_hba.conf entry" in answer, answer


def test_postgresql_refuses_a_stranger_on_the_data_network() -> None:
    """A container that is no host of the inventory, on the data network itself."""
    image = "djangostack/lab-base:bookworm"
    stranger = subprocess.run(
        ["docker", "run", "--rm", "--network", "djangostack-data", "--entrypoint", "python3",
         image, "-c", PG_PROBE, address("db1", "data"), "django", "django"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "no pg_hba.conf entry" in stranger.stdout, stranger.stdout + stranger.stderr
