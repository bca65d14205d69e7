"""Behaviour of the firewall role: only the contract's flows get in, and a reload under load
cuts no established connection."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import testinfra
from testinfra.host import Host

from harness.ansible_cli import run_scenario_playbook

TIERS = ("varnish", "lb", "web", "cache")
RULES = "/etc/nftables.d/djangostack.nft"
# Every port some host listens on (prepare.yml), and who the contract lets in.
TARGETS = [
    ("varnish", 80),
    ("varnish", 443),
    ("varnish", 6082),
    ("lb", 80),
    ("web", 80),
    ("cache", 11211),
    ("cache", 22),
]
ALLOWED = {
    ("varnish", "lb", 80),
    ("lb", "web", 80),
    ("web", "cache", 11211),
    # fw-web is the scenario's bastion: firewall_ssh_sources.
    ("web", "cache", 22),
} | {(client, "varnish", port) for client in TIERS for port in (80, 443)}

# Opens a TCP connection to each host:port given, all at once: "host:port open" or
# "host:port closed". A dropped SYN is waited on for 2 s.
PROBE = r"""
for target in "$@"; do
  ( timeout 2 bash -c "exec 3<>/dev/tcp/${target%:*}/${target#*:}" 2>/dev/null \
    && echo "$target open" || echo "$target closed" ) &
done
wait
"""


def host(tier: str) -> Host:
    return testinfra.get_host(f"docker://fw-{tier}")


def probe(client: str, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
    """Which of targets (tier, port) accept a connection from client."""
    args = [f"fw-{tier}:{port}" for tier, port in targets]
    out = host(client).check_output("bash -c %s probe" + " %s" * len(args), PROBE, *args)
    return {
        (target.split(":")[0].removeprefix("fw-"), int(target.split(":")[1])): state == "open"
        for target, state in (line.split() for line in out.splitlines())
    }


def address(tier: str) -> str:
    return host(tier).check_output("hostname -I").split()[0]


def dropped(tier: str) -> int:
    """Packets that reached the end of the input chain (the policy drops them)."""
    rule = host(tier).check_output("nft -j list chain inet djangostack input")
    for item in json.loads(rule)["nftables"]:
        expr = item.get("rule", {})
        if expr.get("comment") == "dropped":
            return next(e["counter"]["packets"] for e in expr["expr"] if "counter" in e)
    raise AssertionError(f"no dropped counter on {tier}")


@pytest.mark.parametrize("client", TIERS)
def test_each_tier_reaches_only_what_the_contract_allows(client: str) -> None:
    targets = [(tier, port) for tier, port in TARGETS if tier != client]
    reached = probe(client, targets)
    expected = {(tier, port): (client, tier, port) in ALLOWED for tier, port in targets}
    assert reached == expected


def test_lb_cannot_reach_memcached_and_the_drop_is_counted() -> None:
    """The issue's own example: the load balancer has no business with the cache."""
    before = dropped("cache")
    assert probe("lb", [("cache", 11211)]) == {("cache", 11211): False}
    assert dropped("cache") > before


def test_loopback_is_always_admitted() -> None:
    """varnish's admin port is loopback only: closed to the others (above), open on lo."""
    assert host("varnish").run("timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6082'").rc == 0


def test_docker_gateway_reaches_only_the_extra_source_port() -> None:
    """This machine reaches fw-lb's port 80 through the gateway (firewall_extra_sources),
    as the lab's published ports do; fw-web, which admits only the lb tier, stays shut."""
    with socket.create_connection((address("lb"), 80), timeout=2):
        pass
    with pytest.raises(OSError):
        socket.create_connection((address("web"), 80), timeout=2).close()


def test_only_our_table_is_loaded_and_persists() -> None:
    cache = host("cache")
    other = "table inet someone_else"
    cache.check_output(f"nft add {other}")
    try:
        cache.check_output("systemctl reload djangostack-firewall")
        assert other in cache.check_output("nft list tables")
    finally:
        cache.run(f"nft delete {other}")
    assert cache.service("djangostack-firewall").is_enabled


RELOADS = 20
# Reloads the rules RELOADS times, as the role's handler does, in the background.
RELOAD_LOOP = (
    "systemd-run --unit=fw-reloads --collect bash -c "
    f"'for i in $(seq {RELOADS}); do systemctl reload djangostack-firewall"
    " && echo ok >> /run/fw-reloads; sleep 0.2; done'"
)


def test_reloads_under_load_cut_no_established_connection() -> None:
    lb, web = host("lb"), host("web")
    for node in (lb, web):
        node.check_output("rm -f /run/fw-reloads")
    web_address = address("web")
    for node in (lb, web):
        node.check_output(RELOAD_LOOP)
    stats = json.loads(lb.check_output(f"python3 /usr/local/bin/fw_load.py 6 {web_address}"))
    for node in (lb, web):
        assert node.check_output("cat /run/fw-reloads").split() == ["ok"] * RELOADS
    print("load during reloads:", stats)
    assert stats["failures"] == []
    assert stats["held"] > 100 and stats["new"] > 50, stats
    assert stats["slowest"] < 1, stats


def nft_state() -> dict[str, str]:
    return {
        tier: host(tier).check_output(f"nft list table inet djangostack; sha256sum {RULES}")
        for tier in TIERS
    }


def test_a_flow_naming_an_unknown_tier_is_refused_and_nothing_changes() -> None:
    before = nft_state()
    flows = [{"to": "webservers", "port": 80, "from": ["lb"]}]
    run = run_scenario_playbook("converge.yml", "-e", json.dumps({"firewall_flows": flows}))
    assert run.returncode != 0
    assert "firewall_flows must name groups of the inventory" in " ".join(run.output.split())
    assert "'webservers'" in run.output
    assert "Install the nftables package" not in run.output
    assert nft_state() == before


def test_a_run_limited_to_one_host_learns_its_sources_and_changes_nothing() -> None:
    """fw-web admits fw-lb, of which a run limited to fw-web gathers no facts: the role
    learns fw-lb's addresses itself, and the rules stay as they are."""
    run = run_scenario_playbook("converge.yml", "--limit", "fw-web")
    assert run.returncode == 0, run.output[-3000:]
    assert "Learn the addresses of the hosts this one admits" in run.output
    assert run.changed_hosts() == {}, run.output[-3000:]


def test_the_rules_come_back_after_a_restart(tmp_path: Path) -> None:
    """The unit loads the file at boot: a restarted container has its table again."""
    cache = host("cache")
    before = cache.check_output("nft list table inet djangostack")
    cache.check_output("nft delete table inet djangostack")
    cache.check_output("systemctl restart djangostack-firewall")
    assert cache.check_output("nft list table inet djangostack") == before
