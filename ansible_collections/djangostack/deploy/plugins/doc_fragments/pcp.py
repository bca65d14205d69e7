"""Documentation of the PCP connection options shared by the collection's pgpool modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  pcp_host:
    description:
      - Host or address of pgpool's PCP port (its C(pcp_listen_addresses)).
      - A value starting with C(/) is the directory of PCP's Unix socket.
    type: str
    default: 127.0.0.1
  pcp_port:
    description: pgpool's C(pcp_port).
    type: int
    default: 9898
  pcp_user:
    description: A user of pgpool's C(pcp.conf).
    type: str
    required: true
  pcp_password:
    description:
      - That user's password (pcp.conf holds its MD5 hash).
      - Handed to the pcp programs in a temporary C(PCPPASSFILE) (mode 0600, removed
        afterwards), never on a command line, and they run with C(-w), so they fail rather
        than wait for a password prompt.
    type: str
    required: true
requirements:
  - The pgpool-II client programs C(pcp_*) on the managed host (Debian package pgpool2).
"""
