"""Tier segmentation: who can reach whom. Docker's networks keep the edge away from the
data tier; pg_hba.conf admits pgpool hosts (the app's role) and the peer database node
(replication) only; memcached listens on the app network only. Which ports each host
admits is the host firewall's: test_firewall.py."""

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


# An ICMP echo from inside a source host (a raw socket: the image has no ping), to each
# address given; prints the addresses that answered within 3 s. Every host's firewall
# admits echo requests (roles/firewall), so only Docker's networks decide.
ECHO = """
import socket, struct, sys, time
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
answered = set()
with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
    for ip in sys.argv[1:]:
        header = struct.pack("!BBHHH", 8, 0, 0, 0x5EC, 1) + b"segmentation"
        s.sendto(header[:2] + struct.pack("!H", checksum(header)) + header[4:], (ip, 0))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(answered) < len(sys.argv) - 1:
        s.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            packet, (ip, _) = s.recvfrom(1024)
        except TimeoutError:
            break
        if packet[20] == 0 and ip in sys.argv[1:]:  # an echo reply, after the IP header
            answered.add(ip)
print(" ".join(sorted(answered)))
"""


def reachable(source: str, target: str) -> bool:
    """Whether any of target's addresses answers an ICMP echo from source: whether Docker
    routes between them at all (the host firewalls admit ping; they decide the ports)."""
    answered = lab_host(source).check_output(
        "python3 -c %s " + " ".join(["%s"] * len(addresses(target))),
        ECHO,
        *addresses(target).values(),
    )
    return bool(answered.split())


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
    assert not reachable("varnish1", cache)
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


def test_a_stranger_on_the_data_network_gets_no_answer_from_postgresql() -> None:
    """A container that is no host of the inventory, on the data network itself: db1's
    firewall drops its connection before PostgreSQL (whose pg_hba.conf would refuse it
    too) sees it."""
    image = "djangostack/lab-base:bookworm"
    stranger = subprocess.run(
        ["docker", "run", "--rm", "--network", "djangostack-data", "--entrypoint", "python3",
         image, "-c", PG_PROBE, address("db1", "data"), "django", "django"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert stranger.returncode != 0 and "timed out" in stranger.stderr, stranger
