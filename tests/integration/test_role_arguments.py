"""Bad input fails before anything changes, and the failure names the variable.

argument_specs and the preflight checks run on the controller, so these plays target
localhost with a local connection: if a check let bad input through, the next task would
try to install packages on this machine, and the test would see it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness import REPO
from harness.ansible_cli import run_playbook


# One play over every case: each case is an inventory host of its own, on this machine,
# holding the role and entry point it applies and its variables. One ansible-playbook run
# checks them all (a host that fails validation drops out alone), where a run per case cost
# 70 s more. One include per role and entry point, each for its own hosts: a single
# include with a templated tasks_from ran every host through the first host's entry point.
def cases_play(cases: dict[str, dict[str, Any]]) -> str:
    entries = sorted({(case["case_role"], case["case_entry"]) for case in cases.values()})
    tasks = [
        {
            "name": f"Apply {role}, entry point {entry}",
            "ansible.builtin.include_role": {
                "name": f"djangostack.deploy.{role}",
                "tasks_from": entry,
            },
            "when": f"case_role == '{role}' and case_entry == '{entry}'",
        }
        for role, entry in entries
    ]
    return json.dumps(
        [{"name": "Apply each case", "hosts": "cases", "gather_facts": False, "tasks": tasks}]
    )


# Valid values for everything a role needs without facts; each case then spoils one.
# 192.0.2.0/24 is a documentation range: values to validate, never contacted.
GOOD: dict[str, dict[str, Any]] = {
    "memcached": {"memcached_listen_address": "192.0.2.10"},
    "firewall": {"firewall_ssh_sources": ["192.0.2.70/32"]},
    "postgresql_primary": {
        "postgresql_listen_address": "192.0.2.20",
        "postgresql_primary_app_password": "a-valid-test-password",
        "postgresql_replication_password": "another-valid-test-password",
        "postgresql_memory_mb": 1024,
        "postgresql_app_client_hosts": [],
        "postgresql_replication_hosts": [],
    },
    "pg_standby": {
        "pg_standby_primary_host": "db1",
        "pg_standby_primary_address": "192.0.2.21",
        "pg_standby_primary_port": 5432,
        "postgresql_listen_address": "192.0.2.22",
        "postgresql_replication_password": "a-valid-test-password",
        "postgresql_memory_mb": 1024,
        "postgresql_app_client_hosts": [],
        "postgresql_replication_hosts": [],
    },
    "apache_modwsgi": {
        "apache_modwsgi_listen_address": "192.0.2.30",
        "apache_modwsgi_wsgi_script": "/srv/app/current/wsgi.py",
        "apache_modwsgi_processes": 2,
    },
    "django_app": {
        "django_app_source": str(REPO / "sample_django"),
        "django_app_secret_key": "a-valid-test-secret-key-of-forty-characters",
        "django_app_database_password": "a-valid-test-password",
        "django_app_settings_module": "sample_site.settings",
        "django_app_allowed_hosts": ["web1"],
        "django_app_python_version": "3.11.2",
        "django_app_wheel_platforms": ["manylinux_2_17_x86_64"],
        "django_app_health_url": "http://192.0.2.40/healthz/",
    },
    "nginx_lb": {
        "nginx_lb_listen_addresses": ["192.0.2.50"],
        "nginx_lb_backends": ["192.0.2.31:80", "192.0.2.32:80"],
        "nginx_lb_trusted_proxies": ["192.0.2.11"],
    },
    "varnish": {
        "varnish_listen_address": "192.0.2.60",
        "varnish_backends": ["192.0.2.50:80"],
        "varnish_purge_sources": ["192.0.2.60", "192.0.2.31"],
        # HTTPS on, so that its settings are checked too.
        "varnish_tls_enabled": True,
        "varnish_tls_names": ["www.example.com"],
        "varnish_acme_email": "ops@example.com",
    },
    "media_server": {
        "media_server_listen_address": "192.0.2.95",
        "media_server_read_sources": ["192.0.2.31", "192.0.2.50"],
        "media_server_write_sources": ["192.0.2.31"],
    },
    "ec2_stack": {"ec2_stack_ssh_cidrs": ["192.0.2.70/32"]},
    # The case host is its own repository host: the repository's checks apply.
    "pgbackrest": {
        "pgbackrest_repository_host": "{{ inventory_hostname }}",
        "pgbackrest_db_hosts": ["db1"],
        "pgbackrest_tls_address": "192.0.2.90",
        "pgbackrest_tls_dir": "/nonexistent/pgbackrest-tls",
        "pgbackrest_cipher_pass": "a-valid-test-passphrase-of-forty-characters",
    },
    "pgpool": {
        "pgpool_backend_hosts": ["db1"],
        "pgpool_app_password": "a-valid-test-password",
        "pgpool_monitor_password": "another-valid-test-password",
        "pgpool_pcp_password": "a-third-valid-test-password",
        "pgpool_watchdog_address": "192.0.2.80",
    },
}


def first_task(role: str) -> str:
    """The first task past validation, whose name the tests look for: an install on the
    hosts, or for ec2_stack the first AWS call."""
    return {"ec2_stack": "Learn the AWS account"}.get(role, "Install the")


# ec2_stack talks to AWS from the controller: a closed port on loopback, tried once, stands
# in for it, so no test can reach (or be billed by) the real API.
AWS_DEAD_END = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}

CASES = [
    ("pgbackrest", "pgbackrest_retention_full", 0),
    ("pgbackrest", "pgbackrest_retention_diff", 0),
    ("pgbackrest", "pgbackrest_retention_full", "two"),
    ("pgbackrest", "pgbackrest_repo_path", "var/lib/pgbackrest"),
    ("pgbackrest", "pgbackrest_repo_type", "nfs"),
    ("pgbackrest", "pgbackrest_repo_type", "s3"),
    ("pgbackrest", "pgbackrest_cipher_pass", "shorter-than-32-characters"),
    ("pgbackrest", "pgbackrest_cipher_pass", None),
    ("pgbackrest", "pgbackrest_tls_dir", None),
    ("pgbackrest", "pgbackrest_tls_dir", "relative/tls"),
    ("pgbackrest", "pgbackrest_tls_address", "0.0.0.0"),
    ("pgbackrest", "pgbackrest_stanza", "Main Cluster"),
    ("pgbackrest", "pgbackrest_repository_host", "backup9"),
    # A flow naming an unknown tier (as its target or a source), a bad port or protocol.
    ("firewall", "firewall_flows", [{"to": "webservers", "port": 80, "from": ["lb"]}]),
    ("firewall", "firewall_flows", [{"to": "cache", "port": 11211, "from": ["lb", "webb"]}]),
    ("firewall", "firewall_flows", [{"to": "web", "port": 70000, "from": ["lb"]}]),
    ("firewall", "firewall_flows", [{"to": "web", "port": "eighty", "from": ["lb"]}]),
    ("firewall", "firewall_flows", [{"to": "web", "port": 80, "proto": "icmp", "from": ["lb"]}]),
    ("firewall", "firewall_ssh_sources", ["0.0.0.0/0"]),
    ("firewall", "firewall_ssh_sources", ["my laptop"]),
    ("firewall", "firewall_ssh_port", 0),
    ("firewall", "firewall_extra_sources", [{"port": 80, "from": ["the docker gateway"]}]),
    ("firewall", "firewall_extra_sources", [{"port": 0, "from": ["192.0.2.1"]}]),
    ("firewall", "firewall_log_drops", "perhaps"),
    ("memcached", "memcached_port", "eleven"),
    ("memcached", "memcached_port", 70000),
    ("memcached", "memcached_memory_mb", [64]),
    ("memcached", "memcached_listen_address", "0.0.0.0"),
    ("memcached", "memcached_listen_address", "cache.example"),
    ("memcached", "memcached_threads", 0),
    ("memcached", "memcached_max_item_size", "1 GB"),
    ("postgresql_primary", "postgresql_port", "five-four-three-two"),
    ("postgresql_primary", "postgresql_version", "fifteen"),
    ("postgresql_primary", "postgresql_listen_address", "0.0.0.0"),
    ("postgresql_primary", "postgresql_memory_mb", 128),
    ("postgresql_primary", "postgresql_primary_app_password", "short"),
    ("postgresql_primary", "postgresql_primary_app_password", None),
    ("postgresql_primary", "postgresql_app_client_hosts", ["no-such-host"]),
    ("postgresql_primary", "postgresql_replication_hosts", "db2"),
    ("pg_standby", "postgresql_port", "five-four-three-two"),
    ("pg_standby", "pg_standby_primary_port", "primary"),
    ("pg_standby", "pg_standby_force_reclone", "perhaps"),
    ("pg_standby", "pg_standby_kept_data_directories", 0),
    ("pg_standby", "pg_standby_stream_timeout_seconds", "half a minute"),
    ("pg_standby", "postgresql_listen_address", "0.0.0.0"),
    ("pg_standby", "pg_standby_primary_host", "no-such-host"),
    ("pg_standby", "postgresql_replication_password", None),
    ("pg_standby", "postgresql_replication_hosts", "db1"),
    ("pg_standby", "pg_standby_primary_address", "db1.example"),
    ("pg_standby", "postgresql_synchronous_mode", "mostly"),
    ("postgresql_primary", "postgresql_synchronous_mode", "quorum"),
    ("postgresql_primary", "postgresql_primary_pgpool_password", "short"),
    ("pgpool", "pgpool_port", "five-four-three-two"),
    ("pgpool", "pgpool_pcp_port", 5432),
    ("pgpool", "pgpool_listen_addresses", ["0.0.0.0"]),
    ("pgpool", "pgpool_listen_addresses", ["localhost"]),
    ("pgpool", "pgpool_client_networks", ["everyone"]),
    ("pgpool", "pgpool_backend_hosts", ["no-such-host"]),
    ("pgpool", "pgpool_health_check_period", 0),
    ("pgpool", "pgpool_automatic_failover", "perhaps"),
    ("pgpool", "pgpool_automatic_failover_may_lose_writes", "perhaps"),
    # Automatic failover over asynchronous replication (db-async sets no mode: async).
    ("pgpool", "pgpool_backend_hosts", ["db1", "db-async"]),
    ("pgpool", "pgpool_num_init_children", 0),
    ("pgpool", "pgpool_pcp_password", "short"),
    ("pgpool", "pgpool_app_password", None),
    ("pgpool", "pgpool_client_units", ["apache2"]),
    # The settings that time an automatic failover.
    ("pgpool", "pgpool_health_check_timeout", 0),
    ("pgpool", "pgpool_health_check_max_retries", -1),
    ("pgpool", "pgpool_health_check_retry_delay", 0),
    # Two watchdog members cannot lose one and keep a quorum; a list without this host.
    ("pgpool", "pgpool_watchdog_hosts", ["{{ inventory_hostname }}", "db1"]),
    ("pgpool", "pgpool_watchdog_hosts", ["db1", "db-async", "web9"]),
    ("pgpool", "pgpool_watchdog_port", "nine-thousand"),
    ("apache_modwsgi", "apache_modwsgi_port", "eighty"),
    ("apache_modwsgi", "apache_modwsgi_listen_address", "0.0.0.0"),
    ("apache_modwsgi", "apache_modwsgi_wsgi_script", "wsgi.py"),
    ("apache_modwsgi", "apache_modwsgi_wsgi_script", None),
    ("apache_modwsgi", "apache_modwsgi_processes", 0),
    ("apache_modwsgi", "apache_modwsgi_python_home", "venv"),
    ("apache_modwsgi", "apache_modwsgi_processes", "four"),
    ("apache_modwsgi", "apache_modwsgi_mpm", "prefork"),
    ("apache_modwsgi", "apache_modwsgi_mpm", "turbo"),
    ("django_app", "django_app_source", "/nonexistent/project"),
    ("django_app", "django_app_source", None),
    ("django_app", "django_app_requirements", str(REPO / "sample_django/requirements.in")),
    ("django_app", "django_app_secret_key", "short"),
    ("django_app", "django_app_secret_key", None),
    ("django_app", "django_app_database_password", None),
    ("django_app", "django_app_keep_releases", "three"),
    ("django_app", "django_app_keep_releases", 1),
    ("django_app", "django_app_rollback", "perhaps"),
    ("django_app", "django_app_database_port", "pgpool"),
    ("django_app", "django_app_database_conn_max_age", "forever"),
    ("django_app", "django_app_database_conn_max_age", -1),
    ("django_app", "django_app_setup_commands", [{"argv": ["generate_league"]}]),
    ("django_app", "django_app_root", "/"),
    ("django_app", "django_app_debug", "perhaps"),
    ("django_app", "django_app_settings_module", None),
    ("django_app", "django_app_settings_module", "sample_site.no_such_settings"),
    ("django_app", "django_app_media_storage", {"OPTIONS": {"location": "/srv/media"}}),
    ("django_app", "django_app_environment", {"DATABASE_URL": "postgres://elsewhere/db"}),
    ("django_app", "django_app_verify_urls", ["standings/"]),
    ("media_server", "media_server_listen_address", "0.0.0.0"),
    ("media_server", "media_server_write_sources", []),
    ("media_server", "media_server_read_sources", ["10.0.0.0/8"]),
    ("media_server", "media_server_max_upload_mb", 0),
    ("nginx_lb", "nginx_lb_media_origin", "media1:80"),
    ("nginx_lb", "nginx_lb_media_resolvers", ["dns.example.com"]),
    ("varnish", "varnish_not_found_ttl", -1),
    ("django_app", "django_app_allowed_hosts", []),
    ("nginx_lb", "nginx_lb_port", "eighty"),
    ("nginx_lb", "nginx_lb_listen_addresses", ["0.0.0.0"]),
    ("nginx_lb", "nginx_lb_listen_addresses", ["lb.example"]),
    ("nginx_lb", "nginx_lb_backends", []),
    ("nginx_lb", "nginx_lb_backends", ["web1"]),
    ("nginx_lb", "nginx_lb_trusted_proxies", ["0.0.0.0/0"]),
    ("nginx_lb", "nginx_lb_trusted_proxies", ["varnish.example"]),
    ("nginx_lb", "nginx_lb_max_fails", "some"),
    ("nginx_lb", "nginx_lb_fail_timeout", 0),
    ("nginx_lb", "nginx_lb_read_timeout", "a minute"),
    ("nginx_lb", "nginx_lb_connect_timeout", 0),
    ("nginx_lb", "nginx_lb_client_max_body_size", "ten megabytes"),
    ("nginx_lb", "nginx_lb_worker_connections", 10),
    ("nginx_lb", "nginx_lb_static_url", "static"),
    ("nginx_lb", "nginx_lb_media_url", "/static/"),
    ("nginx_lb", "nginx_lb_static_root", "var/www/static"),
    ("nginx_lb", "nginx_lb_media_root", "/var/www/media/"),
    ("nginx_lb", "nginx_lb_listen_addresses", ["8.8.8.8"]),
    ("nginx_lb", "nginx_lb_public_listen_allowed", "sometimes"),
    ("nginx_lb", "nginx_lb_login_url", "accounts/login"),
    ("nginx_lb", "nginx_lb_admin_url", "/accounts/login/"),
    ("nginx_lb", "nginx_lb_login_rate_per_minute", 0),
    ("nginx_lb", "nginx_lb_login_rate_per_minute", -10),
    ("nginx_lb", "nginx_lb_login_rate_per_minute", "ten"),
    ("nginx_lb", "nginx_lb_login_burst", -1),
    ("nginx_lb", "nginx_lb_admin_allowed_networks", ["10.0.0.0/33"]),
    ("nginx_lb", "nginx_lb_admin_allowed_networks", ["203.0.113.7/24"]),
    ("nginx_lb", "nginx_lb_admin_allowed_networks", "10.0.0.0/8"),
    ("varnish", "varnish_port", "eighty"),
    ("varnish", "varnish_listen_address", "0.0.0.0"),
    ("varnish", "varnish_admin_port", 80),
    ("varnish", "varnish_backends", []),
    ("varnish", "varnish_backends", ["lb1"]),
    ("varnish", "varnish_probe_url", "healthz"),
    ("varnish", "varnish_probe_host", "local host"),
    ("varnish", "varnish_probe_interval", 0),
    ("varnish", "varnish_probe_timeout", 0),
    ("varnish", "varnish_probe_timeout", 70),
    ("varnish", "varnish_probe_window", 100),
    ("varnish", "varnish_probe_threshold", 6),
    ("varnish", "varnish_storage_mb", "lots"),
    ("varnish", "varnish_storage_mb", 8),
    ("varnish", "varnish_grace", -1),
    ("varnish", "varnish_pass_urls", ['^/a"b']),
    ("varnish", "varnish_session_cookies", ["session id"]),
    ("varnish", "varnish_purge_sources", ["0.0.0.0/0"]),
    ("varnish", "varnish_purge_sources", ["everyone"]),
    ("varnish", "varnish_vcl_keep", 0),
    ("varnish", "varnish_listen_address", "8.8.8.8"),
    ("varnish", "varnish_hsts_max_age", -1),
    ("varnish", "varnish_tls_names", []),
    ("varnish", "varnish_tls_names", ["203.0.113.7"]),
    ("varnish", "varnish_tls_names", ["*.example.com"]),
    ("varnish", "varnish_tls_names", ["www.example.com:443"]),
    ("varnish", "varnish_tls_names", ["www.exa mple.com"]),
    ("varnish", "varnish_tls_port", 80),
    ("varnish", "varnish_tls_certificate", "letsencrypt"),
    ("varnish", "varnish_acme_email", ""),
    ("varnish", "varnish_acme_directory", "http://acme.example/directory"),
    ("django_app", "django_app_hsts_seconds", -1),
    ("ec2_stack", "ec2_stack_state", "gone"),
    ("ec2_stack", "ec2_stack_project", "Django Stack"),
    ("ec2_stack", "ec2_stack_region", "moon-base-1"),
    ("ec2_stack", "ec2_stack_vpc_cidr", "10.42.0.0"),
    ("ec2_stack", "ec2_stack_subnets", [{"cidr": "10.42.1.0/24"}]),
    (
        "ec2_stack",
        "ec2_stack_subnets",
        [
            {"zone": "a", "public_cidr": "10.42.1.0/24", "private_cidr": "10.42.11.0/24"},
            {"zone": "a", "public_cidr": "10.42.2.0/24", "private_cidr": "10.42.12.0/24"},
        ],
    ),
    (
        "ec2_stack",
        "ec2_stack_subnets",
        [{"zone": "a", "public_cidr": "10.42.1.0/24", "private_cidr": "10.42.1.0/24"}],
    ),
    ("ec2_stack", "ec2_stack_ssh_cidrs", None),
    ("ec2_stack", "ec2_stack_ssh_cidrs", ["0.0.0.0/0"]),
    ("ec2_stack", "ec2_stack_ssh_cidrs", ["my laptop"]),
    # AWS reads 203.0.113.7/0 as 0.0.0.0/0; 300 is no octet; a /8 is a continent's worth.
    ("ec2_stack", "ec2_stack_ssh_cidrs", ["203.0.113.7/0"]),
    ("ec2_stack", "ec2_stack_ssh_cidrs", ["300.1.1.1/32"]),
    ("ec2_stack", "ec2_stack_ssh_cidrs", ["192.0.2.70/32", "10.0.0.0/8"]),
    ("ec2_stack", "ec2_stack_ssh_cidrs", ["192.0.2.70"]),
    ("ec2_stack", "ec2_stack_vpc_cidr", "10.42.0.0/8"),
    ("ec2_stack", "ec2_stack_public_ports", [80, 70000]),
    (
        "ec2_stack",
        "ec2_stack_tiers",
        [{"name": "web", "groups": ["web", "pgpool"], "count": 2, "instance_type": "t3.medium"}],
    ),
    (
        "ec2_stack",
        "ec2_stack_tiers",
        [{"name": "web", "groups": ["webservers"], "count": 1, "instance_type": "t3.medium"}],
    ),
    (
        "ec2_stack",
        "ec2_stack_tiers",
        [{"name": "web", "groups": ["web"], "count": "two", "instance_type": "t3.medium"}],
    ),
    ("ec2_stack", "ec2_stack_volume_gb", 4),
    ("ec2_stack", "ec2_stack_image_id", "debian-12"),
    ("ec2_stack", "ec2_stack_bucket_name", "Static_Files"),
    ("ec2_stack", "ec2_stack_bucket_name", "static.example.com"),
    ("ec2_stack", "ec2_stack_media_path", "/media"),
    ("ec2_stack", "ec2_stack_media_path", "pgbackrest/uploads"),
    ("ec2_stack", "ec2_stack_wait", "perhaps"),
]


# The other entry points: (role, entry point, variable, value). apache_modwsgi's reload and
# varnish's status take no option, and django_app's status only a path (any value is one),
# so no input of theirs can be bad.
ENTRY_CASES = [
    ("django_app", "stage", "django_app_keep_releases", "three"),
    ("django_app", "activate", "django_app_secret_key", None),
    ("django_app", "manage", "django_app_manage_args", None),
    ("memcached", "status", "memcached_port", "eleven"),
    ("memcached", "flush", "memcached_port", "eleven"),
    ("pgbackrest", "backup", "pgbackrest_backup_type", "weekly"),
    ("pgbackrest", "restore", "pgbackrest_restore_type", "xid"),
    ("pgbackrest", "install", "pgbackrest_retention_full", 0),
    ("pgbackrest", "verify", "pgbackrest_verify_counts", "many"),
    ("pgpool", "repoint", "pgpool_primary_address", None),
    ("pgpool", "repoint", "pgpool_standby_addresses", {"db2": "192.0.2.22"}),
    ("pgpool", "check_write", "pgpool_check_write_seconds", "half a minute"),
    ("pgpool", "hold_failover", "pgpool_failover_hold_seconds", "five minutes"),
    ("pgpool", "status", "pgpool_pcp_password", None),
    ("varnish", "ban", "varnish_ban_expression", None),
    ("postgresql", "preflight", "postgresql_replication_password", "short"),
    ("postgresql", "configure", "postgresql_port", "five-four-three-two"),
    ("postgresql", "install", "postgresql_start", "perhaps"),
    ("postgresql", "standby_settings", "postgresql_standby_settings", None),
    ("postgresql", "fence", "postgresql_version", "fifteen"),
]
# What each entry point needs besides GOOD[role], so that only the case's variable is bad.
ENTRY_GOOD: dict[tuple[str, str], dict[str, Any]] = {
    ("pgpool", "repoint"): {"pgpool_primary_address": "192.0.2.21"},
    ("varnish", "ban"): {"varnish_ban_expression": "obj.http.X-Release != abc"},
    ("postgresql", "standby_settings"): {"postgresql_standby_settings": {}},
}
# The roles with a main entry point; postgresql has none (its entry points' cases cover it).
MAIN_ROLES = sorted(GOOD)
GOOD["postgresql"] = {
    key: value for key, value in GOOD["pg_standby"].items() if key.startswith("postgresql_")
}


def case_name(role: str, variable: str, value: object, entry: str = "main") -> str:
    """An inventory host name for the case (letters, digits and dashes)."""
    if entry == "main":
        return f"case-{CASES.index((role, variable, value)):03d}-{role}"
    number = ENTRY_CASES.index((role, entry, variable, value))
    return f"case-e{number:02d}-{role}-{entry.replace('_', '-')}"


def run_cases(tmp_path: Path, cases: dict[str, dict[str, Any]], *args: str) -> dict[str, Any]:
    """Apply each case's role once, all in one run; returns each case's task results,
    {case: [(task name, result), ...]}, read from the json callback."""
    hosts = {
        name: {
            **variables,
            "ansible_connection": "local",
            # The Python running Ansible (a role may run controller-side modules, delegated).
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        }
        for name, variables in cases.items()
    }
    inventory = tmp_path / "cases.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    # Backends the cases name: db1 replicates synchronously, db-async not.
                    "hosts": {"db1": {"postgresql_synchronous_mode": "sync"}, "db-async": {}},
                    "children": {"cases": {"hosts": hosts}},
                }
            }
        )
    )
    playbook = tmp_path / "cases_play.yml"
    playbook.write_text(cases_play(cases))
    env = {
        **AWS_DEAD_END,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
    }
    run = run_playbook(playbook, "-i", inventory, "--forks", "20", *args, env=env, quiet=True)
    results: dict[str, list[tuple[str, dict[str, Any]]]] = {name: [] for name in cases}
    # The json callback's document, then anything Ansible wrote on stderr.
    document, _ = json.JSONDecoder().raw_decode(run.output, run.output.index("{"))
    for play in document["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                results.setdefault(host, []).append((task["task"]["name"], result))
    return results


def bad_case(role: str, variable: str, value: object, entry: str = "main") -> dict[str, Any]:
    """GOOD[role] and what the entry point needs, with the case's variable spoilt (None:
    left out)."""
    variables = {**GOOD[role], **ENTRY_GOOD.get((role, entry), {}), variable: value}
    return {
        "case_role": role,
        "case_entry": entry,
        **{k: v for k, v in variables.items() if not (k == variable and v is None)},
    }


BAD = {case_name(*case): bad_case(*case) for case in CASES} | {
    case_name(role, variable, value, entry): bad_case(role, variable, value, entry)
    for role, entry, variable, value in ENTRY_CASES
}


def failure_messages(result: dict[str, Any]) -> str:
    """What a failed task said: for a loop (the preflight checks), only the items that
    failed, since every item carries its message, the passing ones too."""
    if "results" in result:
        return "\n".join(
            str(item.get("msg", "")) for item in result["results"] if item.get("failed")
        )
    return str(result.get("msg", ""))


@pytest.fixture(scope="module")
def bad_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """In check mode too: should a check let bad input through, the next task changes
    nothing on the machine running the tests."""
    return run_cases(tmp_path_factory.mktemp("bad"), BAD, "--check")


@pytest.fixture(scope="module")
def good_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Check mode keeps this machine untouched; the install task fails or is skipped there
    (no apt cache for the package, or no such package on the controller), which is fine:
    reaching it is the point. For ec2_stack the first AWS call fails on the dead end."""
    cases = {
        f"{role}-good": {"case_role": role, "case_entry": "main", **GOOD[role]}
        for role in MAIN_ROLES
    }
    return run_cases(tmp_path_factory.mktemp("good"), cases, "--check")


def assert_fails_naming(tasks: list[tuple[str, dict[str, Any]]], variable: str) -> None:
    failed = [failure_messages(result) for _, result in tasks if result.get("failed")]
    assert failed, tasks
    # The failure itself names the variable: argument_specs ("argument 'x' is of type ...",
    # "missing required arguments: x", "argument 'count' ... found in 'x'" for a suboption) or
    # the preflight check ("x must ...", "x names ...").
    assert re.search(
        rf"argument '+{variable}'+ |found in '+{variable}'+|required arguments: .*{variable}"
        rf"|{variable} (must|names) ",
        failed[0],
    ), failed
    # And nothing ran after it: the host dropped out at the failure.
    assert tasks[-1][1].get("failed"), tasks


@pytest.mark.parametrize(("role", "variable", "value"), CASES)
def test_bad_input_fails_naming_the_variable(
    bad_results: dict[str, Any], role: str, variable: str, value: object
) -> None:
    tasks = bad_results[case_name(role, variable, value)]
    assert_fails_naming(tasks, variable)
    assert not [name for name, _ in tasks if first_task(role) in name], tasks


@pytest.mark.parametrize(("role", "entry", "variable", "value"), ENTRY_CASES)
def test_bad_input_to_every_entry_point_fails_naming_the_variable(
    bad_results: dict[str, Any], role: str, entry: str, variable: str, value: object
) -> None:
    assert_fails_naming(bad_results[case_name(role, variable, value, entry)], variable)


@pytest.mark.parametrize("role", MAIN_ROLES)
def test_good_input_passes_validation(good_results: dict[str, Any], role: str) -> None:
    """The same play with the good values gets past validation to the first install task."""
    tasks = good_results[f"{role}-good"]
    assert [name for name, _ in tasks if first_task(role) in name], tasks
