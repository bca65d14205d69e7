"""Requests from inside a scenario's network, for the edge tier's tests (nginx_lb, varnish).

Imported by their testinfra tests; the hosts have curl and http-load from the shared
prepare step (prepare.yml here).
"""

from __future__ import annotations

import json
from typing import Any

import testinfra
from testinfra.host import Host


def host(name: str) -> Host:
    return testinfra.get_host(f"docker://{name}")


def address(target: Host) -> str:
    return target.check_output("hostname -I").split()[0]


def request(
    client: Host, url: str, *headers: str, method: str = "GET", body: bool = True
) -> tuple[dict[str, str], str]:
    """One request from `client` with curl: the response's headers (lower-case names, the
    status under "status") and its body (empty with body=False, for compressed ones)."""
    flags = " ".join(["-H %s"] * len(headers)) + ("" if body else " -o /dev/null")
    out = client.run(f"curl -s -D - -X %s {flags} %s", method, *headers, url)
    assert out.rc == 0, out.stderr
    head, _, body = out.stdout.partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines)
    return {"status": status_line.split()[1], **{k.lower(): v for k, v in fields.items()}}, body


def burst(client: Host, url: str, **options: Any) -> dict[str, Any]:
    """A bounded burst from `client` with the shared load driver (harness/http_load.py);
    each option a flag, quoted (expect="<h1>..." is --expect='<h1>...')."""
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    return json.loads(client.check_output("http-load" + " %s" * (1 + len(flags)), url, *flags))
