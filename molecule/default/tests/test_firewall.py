"""The host firewall on every lab host (roles/firewall, docs/firewall.md): the port matrix
of the contract, probed from every host to every other, lb1 -> memcached dropped and
counted, and reloads on every host under load through every tier costing no request."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import cache

import pytest
from conftest import HOSTS, INVENTORY, addresses

from harness.drills.primary_loss import group, inventory_hosts
from harness.lab import FRONT_DOOR, BackgroundLoad, on_host

# The contract's TCP flows (docs/architecture.md, "Who may reach whom"), stated here again
# on their own rather than read from the role: (to group, port) -> the groups admitted,
# or "world". UDP 9694 (the watchdog's heartbeats) has no connection to probe: the
# watchdog's quorum, which needs them, is checked by the pgpool tests.
CONTRACT: dict[tuple[str, int], str | set[str]] = {
    ("varnish", 80): "world",
    ("varnish", 443): "world",
    ("lb", 80): {"varnish"},
    ("web", 80): {"lb"},
    ("cache", 11211): {"web"},
    ("pgpool", 9000): {"pgpool", "pgpool_witness"},
    ("pgpool_witness", 9000): {"pgpool", "pgpool_witness"},
    ("postgres", 5432): {"pgpool", "pgpool_witness", "postgres"},
    ("media", 80): {"web", "lb"},
    ("backup", 8432): {"postgres"},
    ("postgres", 8432): {"backup"},
}

# From inside a source host: a TCP connect to each (address, port), all at once, each
# given 2 s. "open" (connected), "refused" (a reset: nothing listens, or no route said so)
# or "dropped" (no answer at all: a firewall, or Docker between networks).
PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def probe(target):
    try:
        socket.create_connection(tuple(target), timeout=2).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "dropped"
targets = json.loads(sys.argv[1])
with ThreadPoolExecutor(len(targets)) as pool:
    print(json.dumps(list(pool.map(probe, targets))))
"""


@cache
def groups_of() -> dict[str, set[str]]:
    data = inventory_hosts(INVENTORY)
    names = {tier for tier, _ in CONTRACT}
    names |= {name for sources in CONTRACT.values() if sources != "world" for name in sources}
    return {host: {name for name in names if host in group(data, name)} for host in HOSTS}


@cache
def listening(host: str) -> frozenset[tuple[str, int]]:
    """(address, port) of every TCP socket the host listens on ("*" for any address)."""
    sockets = set()
    for line in on_host(host, "ss", "-Hltn").splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        address = address.strip("[]").split("%")[0]
        sockets.add(("*" if address in ("0.0.0.0", "*", "::") else address, int(port)))
    return frozenset(sockets)


def ports() -> list[int]:
    """The contract's ports and every port a lab host listens on beyond loopback."""
    found = {port for _, port in CONTRACT}
    for host in HOSTS:
        found |= {
            port
            for address, port in listening(host)
            if address == "*" or not ipaddress.ip_address(address).is_loopback
        }
    return sorted(found)


def admitted(source: str, target: str, port: int) -> bool:
    """Whether the contract admits source to target's port."""
    for (tier, tier_port), sources in CONTRACT.items():
        if tier_port != port or tier not in groups_of()[target]:
            continue
        if sources == "world" or groups_of()[source] & sources:
            return True
    return False


def answers(source: str, target: str, port: int) -> bool:
    """Whether a connection could answer at all without a firewall: the two hosts share a
    network on which the target listens on that port."""
    shared = set(addresses(source)) & set(addresses(target))
    reachable = {addresses(target)[network] for network in shared}
    return any(
        (bound == "*" and reachable) or bound in reachable
        for bound, bound_port in listening(target)
        if bound_port == port
    )


def probe_from(source: str, targets: list[tuple[str, str, int]]) -> list[str]:
    """Each (target host, address, port) probed from source, in order."""
    pairs = json.dumps([[address, port] for _, address, port in targets])
    return json.loads(on_host(source, "python3", "-c", PROBE, pairs))


def test_the_port_matrix_is_the_contracts() -> None:
    """Every host probes every other host's every address on every port in play (the
    contract's, and whatever any host listens on beyond loopback). A pair answers exactly
    when the contract admits it, and something listens where the source can route: every
    other pair is refused or dropped."""
    targets = {
        source: [
            (target, address, port)
            for target in HOSTS
            if target != source
            for address in addresses(target).values()
            for port in ports()
        ]
        for source in HOSTS
    }
    with ThreadPoolExecutor(len(HOSTS)) as pool:
        found = pool.map(lambda source: probe_from(source, targets[source]), HOSTS)
        results = dict(zip(HOSTS, found, strict=True))
    seen: dict[tuple[str, str, int], set[str]] = {}
    for source in HOSTS:
        for (target, _, port), result in zip(targets[source], results[source], strict=True):
            seen.setdefault((source, target, port), set()).add(result)
    wrong = []
    for (source, target, port), outcomes in sorted(seen.items()):
        expected = admitted(source, target, port) and answers(source, target, port)
        if ("open" in outcomes) != expected:
            wrong.append(f"{source} -> {target}:{port} {'/'.join(sorted(outcomes))}")
    assert wrong == [], "pairs against the contract:\n" + "\n".join(wrong)
    # Not vacuous: each flow of the contract answers for some pair of the lab.
    opened = {(target, port) for (_, target, port), o in seen.items() if "open" in o}
    for tier, port in CONTRACT:
        members = [h for h in HOSTS if tier in groups_of()[h]]
        assert any((h, port) in opened for h in members), (tier, port)


def dropped_count(host: str) -> int:
    table = on_host(host, "nft", "list", "table", "inet", "djangostack")
    match = re.search(r'counter packets (\d+) bytes \d+ comment "dropped"', table)
    assert match, table
    return int(match.group(1))


@pytest.mark.parametrize("cache_host", ["cache1", "cache2"])
def test_lb1_cannot_reach_memcached_and_the_drop_is_counted(cache_host: str) -> None:
    """lb1 and the caches share the app network, and memcached listens there: only the
    firewall stands between them (memcached has no authentication, and Django unpickles
    what it reads)."""
    address = addresses(cache_host)["djangostack-app"]
    assert (address, 11211) in listening(cache_host)
    before = dropped_count(cache_host)
    assert probe_from("lb1", [(cache_host, address, 11211)]) == ["dropped"]
    assert dropped_count(cache_host) > before
    assert probe_from("web1", [(cache_host, address, 11211)]) == ["open"]


def test_reloading_every_hosts_firewall_under_load_costs_no_request() -> None:
    """HTTPS keep-alive load on the front door and plain load on lb1 (every request
    rendered on an app server from PostgreSQL through pgpool and memcached), while every
    host reloads its rules 5 times: no request fails, nor waits 3 s for an answer (a reload
    that shut the ports for seconds would only delay the requests caught in it, by TCP's
    retransmissions, without failing them)."""
    with ExitStack() as stack:
        loads = [
            stack.enter_context(
                BackgroundLoad(url, requests=50_000, concurrency=4, seconds=40, timeout=3)
            )
            for url in (FRONT_DOOR, "http://127.0.0.1:8081/")
        ]
        for _ in range(5):
            time.sleep(1)
            with ThreadPoolExecutor(len(HOSTS)) as pool:
                list(pool.map(reload_firewall, HOSTS))
        time.sleep(1)
    for load in loads:
        assert load.result.failed == 0, load.result.summary()
        assert load.result.requests > 50, load.result.summary()


def reload_firewall(host: str) -> None:
    on_host(host, "systemctl", "reload", "djangostack-firewall")
