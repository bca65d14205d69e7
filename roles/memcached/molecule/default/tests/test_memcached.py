"""Behaviour of the memcached role: served over the network, bound to one address, UDP off."""

from __future__ import annotations

import json

import pytest
import testinfra
from testinfra.host import Host

CACHE = "docker://memcached-cache"
CLIENT = "docker://memcached-client"

# A minimal memcached text-protocol client run on a host with python3 only. It sends the
# commands given as JSON and prints each reply up to its terminator.
CLIENT_SCRIPT = r"""
import json, socket, sys
addr, port, cmds = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
s = socket.create_connection((addr, port), timeout=5)
out = []
for cmd in cmds:
    s.sendall(cmd.encode())
    buf = b""
    while not buf.endswith((b"END\r\n", b"STORED\r\n", b"NOT_STORED\r\n", b"ERROR\r\n")):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    out.append(buf.decode())
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def cache() -> Host:
    return testinfra.get_host(CACHE)


@pytest.fixture(scope="module")
def client() -> Host:
    return testinfra.get_host(CLIENT)


@pytest.fixture(scope="module")
def cache_address(cache: Host) -> str:
    return cache.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"][
        "ansible_default_ipv4"
    ]["address"]


def memcached(client: Host, address: str, *commands: str) -> list[str]:
    """Send memcached text-protocol commands from client to address and return the replies."""
    result = client.run(
        "python3 -c %s %s 11211 %s", CLIENT_SCRIPT, address, json.dumps(list(commands))
    )
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def stats_settings(client: Host, address: str) -> dict[str, str]:
    (reply,) = memcached(client, address, "stats settings\r\n")
    return {
        parts[1]: parts[2]
        for parts in (line.split(" ", 2) for line in reply.splitlines())
        if parts[0] == "STAT"
    }


def test_service_running_and_enabled(cache: Host) -> None:
    service = cache.service("memcached")
    assert service.is_running
    assert service.is_enabled


def test_store_and_fetch_over_the_network(client: Host, cache_address: str) -> None:
    stored, fetched = memcached(
        client,
        cache_address,
        "set molecule:greeting 0 60 5\r\nhello\r\n",
        "get molecule:greeting\r\n",
    )
    assert stored == "STORED\r\n"
    assert fetched == "VALUE molecule:greeting 0 5\r\nhello\r\nEND\r\n"


def test_settings_come_from_the_role_variables(client: Host, cache_address: str) -> None:
    settings = stats_settings(client, cache_address)
    assert settings["maxbytes"] == str(48 * 1024 * 1024)
    assert settings["maxconns"] == "256"
    assert settings["num_threads"] == "2"
    assert settings["item_size_max"] == str(1024 * 1024)
    assert settings["inter"] == cache_address
    assert settings["udpport"] == "0"


def test_bound_to_one_address_only(cache: Host, cache_address: str) -> None:
    tcp = cache.check_output("ss -Htln 'sport = :11211'")
    assert tcp.split()[3] == f"{cache_address}:11211", tcp
    assert len(tcp.splitlines()) == 1
    assert cache.check_output("ss -Huln 'sport = :11211'") == ""
    # Nothing answers on loopback: the bind address is the only door.
    assert cache.run("python3 -c %s 127.0.0.1 11211 '[]'", CLIENT_SCRIPT).rc != 0
