"""Talking to pgpool-II over PCP, through the pcp_* programs of its client package.

One place for how a module reaches pgpool's PCP port: the argument spec (documented once, in
the doc fragment djangostack.deploy.pcp), the password handed over in a private PCPPASSFILE,
the error checks the programs need, and the parser of pcp_node_info --verbose.

Written against pgpool-II 4.3 (Debian 12's pgpool2 package, which ships the pcp_* programs).
"""

from __future__ import annotations

import os
import tempfile
import time
from types import TracebackType
from typing import Any

from ansible.module_utils.basic import AnsibleModule

# pgpool's own status names: up and waiting (up, no pooled connection yet) both mean the node
# is attached and receives queries. The others are down, unused (before pgpool has
# initialised a node) and quarantine (down, and the watchdog may bring it back by itself).
ATTACHED_STATUSES = ("up", "waiting")

# The labels of pcp_node_info --verbose (4.3), and the key each becomes.
_NODE_INFO_LABELS = {
    "Hostname": "hostname",
    "Port": "port",
    "Status Name": "status",
    "Weight": "weight",
    "Role": "role",
    "Backend Status Name": "pg_status",
    "Backend Role": "pg_role",
    "Replication Delay": "replication_delay",
    "Replication State": "replication_state",
    "Replication Sync State": "replication_sync_state",
    "Last Status Change": "last_status_change",
}
_REQUIRED_KEYS = ("hostname", "port", "status", "role")

# pgpool's password file reader keeps lines of NAMEDATALEN * 5 bytes, newline included: a
# longer line is silently cut, and the password then does not match.
_PCPPASS_MAX_LINE = 64 * 5 - 1


# The labels of pcp_watchdog_info --verbose (4.3): the cluster's lines, then one block per
# member, each starting with its "Node Name".
_WATCHDOG_CLUSTER_LABELS = {
    "Total Nodes": "nodes",
    "Alive Remote Nodes": "alive_remote_nodes",
    "Quorum state": "quorum_state",
    "Leader Node Name": "leader",
    "Leader Host Name": "leader_host",
}
_WATCHDOG_MEMBER_LABELS = {
    "Node Name": "name",
    "Host Name": "host",
    "Status Name": "status",
    "Membership Status": "membership",
}


# How often, and how far apart, a read that printed nothing is tried (3 s in all).
READ_ATTEMPTS = 10
READ_RETRY_SECONDS = 0.3
# What a pcp program says when pgpool closed its PCP connection under it.
DROPPED = "unable to read data from socket"


class PcpError(Exception):
    """A pcp_* program failed, or printed something that is not what it should print."""


def pcp_argument_spec() -> dict[str, dict[str, Any]]:
    """The PCP connection options every pgpool module of this collection takes."""
    return {
        "pcp_host": {"type": "str", "default": "127.0.0.1"},
        "pcp_port": {"type": "int", "default": 9898},
        "pcp_user": {"type": "str", "required": True},
        "pcp_password": {"type": "str", "required": True, "no_log": True},
    }


def _escape(field: str) -> str:
    return field.replace("\\", "\\\\").replace(":", "\\:")


def pcppass_line(user: str, password: str) -> str:
    """The one line of the private password file.

    Host and port are wildcards: the file serves a single connection, and pgpool matches a
    socket directory host against "localhost", not against the path given with -h.
    """
    line = f"*:*:{_escape(user)}:{_escape(password)}\n"
    if len(line.encode()) > _PCPPASS_MAX_LINE:
        raise PcpError(
            f"pcp_user and pcp_password are too long for pgpool's password file"
            f" (at most {_PCPPASS_MAX_LINE} bytes with the separators)"
        )
    return line


def parse_node_info(node_id: int, output: str) -> dict[str, Any]:
    """One backend, from the output of pcp_node_info --verbose.

    The verbose form is parsed rather than the plain one: the plain one separates its twelve
    fields with single spaces, yet its last field (a timestamp) holds a space, and an empty
    field (older pgpool versions print the replication fields empty when sr_check_user may
    not read pg_stat_replication; 4.3.5 prints "none") shifts every field after it. The
    verbose form labels each value on its own line, so an empty or missing value stays put.
    """
    values: dict[str, str] = {}
    for line in output.splitlines():
        label, separator, value = line.partition(":")  # values (times, IPv6) may hold ':'
        key = _NODE_INFO_LABELS.get(label.strip())
        if separator and key:
            values[key] = value.strip()
    missing = [key for key in _REQUIRED_KEYS if not values.get(key)]
    if missing:
        raise PcpError(
            f"unexpected pcp_node_info output for node {node_id} (no {', '.join(missing)}):"
            f" {output.strip()!r}"
        )
    delay = values.get("replication_delay") or ""
    return {
        "node_id": node_id,
        "hostname": values["hostname"],
        "port": int(values["port"]),
        "status": values["status"],
        "weight": float(values.get("weight") or 0),
        "role": values["role"],
        "pg_status": values.get("pg_status") or None,
        "pg_role": values.get("pg_role") or None,
        # Bytes in 4.3; later versions may print seconds with a unit: then kept as printed.
        "replication_delay": int(delay) if delay.isdigit() else (delay or None),
        "replication_state": values.get("replication_state") or None,
        "replication_sync_state": values.get("replication_sync_state") or None,
        "last_status_change": values.get("last_status_change") or None,
    }


def parse_watchdog_info(output: str) -> dict[str, Any]:
    """The watchdog cluster as this pgpool sees it, from pcp_watchdog_info --verbose.

    quorum is true only for "QUORUM EXIST": "QUORUM IS ON THE EDGE" (exactly half, with an
    even number of members) decides nothing while enable_consensus_with_half_votes is off.
    """
    cluster: dict[str, str] = {}
    members: list[dict[str, str]] = []
    for line in output.splitlines():
        label, separator, value = line.partition(":")  # names hold ':' (host:port Linux host)
        label, value = label.strip(), value.strip()
        if not separator:
            continue
        if label == "Node Name":
            members.append({})
        if members and label in _WATCHDOG_MEMBER_LABELS:
            members[-1][_WATCHDOG_MEMBER_LABELS[label]] = value
        elif not members and label in _WATCHDOG_CLUSTER_LABELS:
            cluster[_WATCHDOG_CLUSTER_LABELS[label]] = value
    if not cluster.get("nodes", "").isdigit() or "quorum_state" not in cluster:
        raise PcpError(f"unexpected pcp_watchdog_info output: {output.strip()!r}")
    alive = cluster.get("alive_remote_nodes", "")
    return {
        "nodes": int(cluster["nodes"]),
        "alive_remote_nodes": int(alive) if alive.isdigit() else None,
        "quorum_state": cluster["quorum_state"],
        "quorum": cluster["quorum_state"] == "QUORUM EXIST",
        "leader": cluster.get("leader") or None,
        "leader_host": cluster.get("leader_host") or None,
        "members": members,
    }


class Pcp:
    """The pcp_* programs, authenticated through a private password file.

    Use as a context manager: the password file (mode 0600, in the module's temporary
    directory) exists only inside the with block.
    """

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.connection = [
            "-h",
            params["pcp_host"],
            "-p",
            str(params["pcp_port"]),
            "-U",
            params["pcp_user"],
            "-w",  # never prompt: without a usable password the program fails, not hangs
        ]
        self.passfile: str | None = None

    def __enter__(self) -> Pcp:
        line = pcppass_line(self.module.params["pcp_user"], self.module.params["pcp_password"])
        descriptor, self.passfile = tempfile.mkstemp(prefix="pcppass-", dir=self.module.tmpdir)
        # mkstemp creates the file 0600, the only mode pgpool accepts (it ignores a password
        # file any other user can read).
        with os.fdopen(descriptor, "w") as passfile:
            passfile.write(line)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.passfile and os.path.exists(self.passfile):
            os.remove(self.passfile)
        self.passfile = None

    def run(self, program: str, *args: str) -> tuple[int, str, str]:
        """Run one pcp_* program; return its exit code, stdout and stderr, unjudged."""
        if self.passfile is None:
            raise PcpError("Pcp.run outside its with block: no password file")
        path = self.module.get_bin_path(program)
        if path is None:
            raise PcpError(
                f"{program} not found: install the pgpool-II client programs (Debian: pgpool2)"
            )
        return self.module.run_command(
            [path, *self.connection, *args], environ_update={"PCPPASSFILE": self.passfile}
        )

    def check(self, program: str, *args: str) -> str:
        """Run one pcp_* program; return its stdout, or raise PcpError with what it said.

        Exit code 0 is not enough: pcp_node_info of an unknown node id, or pcp_detach_node of
        a node already down, print ERROR on stderr and still exit 0 (pgpool-II 4.3.5).
        """
        rc, out, err = self.run(program, *args)
        if rc != 0 or error_in(err):
            command = " ".join((program, *args))
            raise PcpError(f"{command} failed (rc={rc}): {err.strip() or out.strip()}")
        return out

    def read(self, program: str, *args: str) -> str:
        """Run a read-only pcp_* program; retry while it prints nothing or is cut off.

        With the watchdog, a failover or a new primary on another member makes every
        member's pgpool replace its PCP process. A read in that moment printed nothing and
        exited 0 (seen on the lab, right after pcp_promote_node on the other members), or
        failed with "unable to read data from socket" (seen right after a restored primary
        was attached). Both are safe to repeat: the read changes nothing.
        """
        for _attempt in range(READ_ATTEMPTS - 1):
            try:
                out = self.check(program, *args)
            except PcpError as error:
                if DROPPED not in str(error):
                    raise
                out = ""
            if out.strip():
                return out
            time.sleep(READ_RETRY_SECONDS)
        return self.check(program, *args)

    def node_count(self) -> int:
        out = self.read("pcp_node_count")
        try:
            return int(out.strip())
        except ValueError:
            raise PcpError(f"unexpected pcp_node_count output: {out.strip()!r}") from None

    def node(self, node_id: int) -> dict[str, Any]:
        return parse_node_info(node_id, self.read("pcp_node_info", "--verbose", "-n", str(node_id)))

    def backends(self) -> list[dict[str, Any]]:
        """Every backend pgpool knows of, in node id order."""
        return [self.node(node_id) for node_id in range(self.node_count())]

    def watchdog(self) -> dict[str, Any]:
        """The watchdog cluster this pgpool belongs to (it must run with use_watchdog)."""
        return parse_watchdog_info(self.read("pcp_watchdog_info", "--verbose"))


def error_in(stderr: str) -> bool:
    """Whether a pcp program reported an error on stderr (it prefixes ERROR: or FATAL:)."""
    return any(line.startswith(("ERROR", "FATAL")) for line in stderr.splitlines())
