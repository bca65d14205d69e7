"""Behaviour of the memcached role: served over the network, bound to one address, UDP off."""

from __future__ import annotations

import pytest
import testinfra
from testinfra.host import Host

CACHE = "docker://memcached-cache"
CLIENT = "docker://memcached-client"

# memcached's text protocol through bash's /dev/tcp: the hosts need nothing installed.
# "quit" makes memcached close the connection, which ends the read.
MEMCACHED_SESSION = 'exec 3<>/dev/tcp/$0/11211 && printf "$1quit\\r\\n" >&3 && timeout 5 cat <&3'


@pytest.fixture(scope="module")
def cache() -> Host:
    return testinfra.get_host(CACHE)


@pytest.fixture(scope="module")
def client() -> Host:
    return testinfra.get_host(CLIENT)


@pytest.fixture(scope="module")
def cache_address(cache: Host) -> str:
    return cache.check_output("hostname -I").split()[0]


def memcached(client: Host, address: str, commands: str) -> str:
    """Send memcached text-protocol commands from client to address; return the whole reply."""
    result = client.run("bash -c %s %s %s", MEMCACHED_SESSION, address, commands)
    assert result.rc == 0, result.stderr
    return result.stdout


def stats_settings(client: Host, address: str) -> dict[str, str]:
    reply = memcached(client, address, "stats settings\\r\\n")
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
    reply = memcached(
        client,
        cache_address,
        "set molecule:greeting 0 60 5\\r\\nhello\\r\\nget molecule:greeting\\r\\n",
    )
    assert reply.splitlines() == ["STORED", "VALUE molecule:greeting 0 5", "hello", "END"]


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
    assert cache.run("bash -c %s 127.0.0.1 stats", MEMCACHED_SESSION).rc != 0
