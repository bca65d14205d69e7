"""Documentation of the connection options shared by the collection's PostgreSQL modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_user:
    description: The role to connect as.
    type: str
    default: postgres
  login_password:
    description:
      - Its password. Not needed over the local socket with peer authentication (run the
        task with C(become_user=postgres)), nor with a C(.pgpass) file.
    type: str
    default: ''
  login_host:
    description: Host or address to connect to. Empty means the local Unix socket.
    type: str
    default: ''
  login_unix_socket:
    description: Directory of the Unix socket, when not libpq's default.
    type: str
    default: ''
  login_port:
    description: Port (also names the Unix socket).
    type: int
    default: 5432
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 5
requirements:
  - psycopg2 on the managed host (Debian package python3-psycopg2)
"""
