"""Connection arguments and helpers shared by the collection's PostgreSQL modules.

One place for how a module reaches PostgreSQL: the argument spec (documented once, in the
doc fragment djangostack.deploy.postgres), the guarded driver import, the connection.
"""

from __future__ import annotations

import traceback
from typing import Any

try:
    import psycopg2
    import psycopg2.extras

    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised on hosts without the driver
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

from ansible.module_utils.basic import AnsibleModule, missing_required_lib


def connection_argument_spec() -> dict[str, dict[str, Any]]:
    """The connection options every module of this collection takes."""
    return {
        "login_user": {"type": "str", "default": "postgres"},
        "login_password": {"type": "str", "default": "", "no_log": True},
        "login_host": {"type": "str", "default": ""},
        "login_unix_socket": {"type": "str", "default": ""},
        "login_port": {"type": "int", "default": 5432},
        "login_db": {"type": "str", "default": "postgres"},
        "connect_timeout": {"type": "int", "default": 5},
    }


def require_driver(module: AnsibleModule) -> None:
    if not HAS_PSYCOPG2:
        module.fail_json(
            msg=missing_required_lib("psycopg2 (Debian: python3-psycopg2)"),
            exception=PSYCOPG2_IMPORT_ERROR,
        )


def connect(module: AnsibleModule, autocommit: bool = True) -> Any:
    """Open a connection from the module's connection options, or fail the module."""
    require_driver(module)
    params = module.params
    kwargs: dict[str, Any] = {
        "user": params["login_user"],
        "dbname": params["login_db"],
        "port": params["login_port"],
        "connect_timeout": params["connect_timeout"],
        "application_name": "ansible-djangostack",
    }
    if params["login_password"]:
        kwargs["password"] = params["login_password"]
    # A host wins over a socket directory; neither means libpq's default socket.
    host = params["login_host"] or params["login_unix_socket"]
    if host:
        kwargs["host"] = host
    try:
        connection = psycopg2.connect(**kwargs)
    except psycopg2.Error as error:
        module.fail_json(msg=f"cannot connect to PostgreSQL: {str(error).strip()}")
    connection.autocommit = autocommit
    return connection


def query_one(connection: Any, sql: str, args: tuple[Any, ...] = ()) -> dict[str, Any]:
    """Run a query returning one row; return it as a dict."""
    with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        cursor.execute(sql, args)
        row = cursor.fetchone()
    return dict(row) if row else {}


def query_all(connection: Any, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Run a query; return its rows as dicts."""
    with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        cursor.execute(sql, args)
        return [dict(row) for row in cursor.fetchall()]
