"""HTTPS at the front door, with a certificate from a real ACME server (the lab's pebble):
HTTP/2 and HSTS, the chain, the protocols and ciphers, plain HTTP redirected, the scheme
and the client's address as the backend sees them, a renewal through the timer's own
service under load, and a certificate hitch refuses never installed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from testinfra.host import Host

from harness.edge_client import address, host

NAME = "www.djangostack.test"
ROOT = "/tmp/pebble-root.pem"
RENEWAL = "/etc/letsencrypt/renewal/djangostack.conf"
HOOK = "/etc/letsencrypt/renewal-hooks/deploy/djangostack-hitch-certificate"


@pytest.fixture(scope="module")
def edge() -> Host:
    return host("varnish-tls-edge")


@pytest.fixture(scope="module")
def visitor(edge: Host) -> Host:
    """The ACME server's host, outside the front door: it fetches pebble's current root,
    which the served chain must lead to."""
    client = host("varnish-tls-acme")
    client.check_output(
        "curl -sf --cacert /etc/pebble/cert.pem https://varnish-tls-acme:15000/roots/0 -o %s", ROOT
    )
    return client


def https(visitor: Host, edge: Host, path: str = "/", *flags: str) -> tuple[dict[str, str], str]:
    """One HTTPS request for NAME at the edge host, verified against pebble's root."""
    out = visitor.run(
        "curl -s --http2 -D - --cacert %s --resolve %s:443:%s" + " %s" * len(flags) + " %s",
        ROOT,
        NAME,
        address(edge),
        *flags,
        f"https://{NAME}{path}",
    )
    assert out.rc == 0, out.stderr
    head, _separator, body = out.stdout.partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines)
    return {"status": status_line, **{k.lower(): v for k, v in fields.items()}}, body


def s_client(visitor: Host, edge: Host, *options: str) -> tuple[int, str]:
    """openssl s_client's exit status and output, verifying against pebble's root only: it
    succeeds only when the server sends the rest of the chain."""
    out = visitor.run(
        "openssl s_client -connect %s:443 -servername %s -CAfile %s -verify_return_error"
        + " %s" * len(options)
        + " </dev/null",
        address(edge),
        NAME,
        ROOT,
        *options,
    )
    return out.rc, out.stdout + out.stderr


def served_serial(visitor: Host, edge: Host) -> str:
    rc, output = s_client(visitor, edge)
    assert rc == 0, output
    return visitor.check_output(
        "echo %s | openssl x509 -noout -serial", output[output.index("-----BEGIN") :]
    )


def test_https_answers_http2_with_hsts_and_a_certificate_from_the_acme_server(
    visitor: Host, edge: Host
) -> None:
    headers, _body = https(visitor, edge, "/?max_age=60")
    assert headers["status"].startswith("HTTP/2 200")
    assert headers["strict-transport-security"] == "max-age=600; includeSubDomains"
    rc, output = s_client(visitor, edge)
    assert rc == 0, output
    assert "Pebble Intermediate" in output


def test_the_certificate_names_every_name_and_its_chain_is_complete(
    visitor: Host, edge: Host
) -> None:
    rc, output = s_client(visitor, edge, "-showcerts")
    assert rc == 0, output
    assert "Verify return code: 0 (ok)" in output, output
    certificate = output[
        output.index("-----BEGIN") : output.index("-----END CERTIFICATE-----") + 25
    ]
    names = visitor.check_output("echo %s | openssl x509 -noout -ext subjectAltName", certificate)
    assert "DNS:www.djangostack.test" in names and "DNS:djangostack.test" in names


@pytest.mark.parametrize("protocol", ["-tls1", "-tls1_1"])
def test_protocols_below_tls_1_2_are_refused(visitor: Host, edge: Host, protocol: str) -> None:
    # The client offers them at security level 0, so only the server can refuse.
    rc, output = s_client(visitor, edge, protocol, "-cipher", "DEFAULT@SECLEVEL=0")
    assert rc != 0, output


@pytest.mark.parametrize("protocol", ["-tls1_2", "-tls1_3"])
def test_tls_1_2_and_1_3_are_accepted(visitor: Host, edge: Host, protocol: str) -> None:
    rc, output = s_client(visitor, edge, protocol)
    assert rc == 0, output


@pytest.mark.parametrize("cipher", ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA"])
def test_ciphers_without_forward_secrecy_or_aead_are_refused(
    visitor: Host, edge: Host, cipher: str
) -> None:
    rc, output = s_client(visitor, edge, "-tls1_2", "-cipher", f"{cipher}@SECLEVEL=0")
    assert rc != 0, output


def test_plain_http_answers_only_a_redirect_to_https(visitor: Host, edge: Host) -> None:
    for method in ("GET", "POST"):
        out = visitor.check_output(
            "curl -s -o /dev/null -w '%%{http_code} %%{redirect_url}' -X %s -H %s %s",
            method,
            f"Host: {NAME}:80",
            f"http://{address(edge)}/teams/?page=2",
        )
        assert out == f"301 https://{NAME}/teams/?page=2"


def test_the_backend_sees_https_and_the_clients_address_whatever_the_client_claims(
    visitor: Host, edge: Host
) -> None:
    _headers, body = https(
        visitor,
        edge,
        "/?private=1",
        "-H",
        "X-Forwarded-Proto: http",
        "-H",
        "X-Forwarded-For: 192.0.2.66",
    )
    seen = json.loads(body)["headers"]
    assert seen["x-forwarded-proto"] == "https"
    # Varnish appends the address hitch saw (PROXY protocol), after whatever was claimed.
    assert seen["x-forwarded-for"].split(",")[-1].strip() == address(visitor)


@pytest.fixture
def renewal_due(edge: Host) -> Iterator[None]:
    """certbot renews a certificate within renew_before_expiry of its end: pebble's last
    years, so the test brings the window over it, and puts it back."""
    original = edge.file(RENEWAL).content_string
    edge.check_output(
        "sed -i '/^renew_before_expiry/d; 1i renew_before_expiry = 3650 days' %s", RENEWAL
    )
    yield
    edge.check_output("printf '%%s' %s > %s", original, RENEWAL)


@pytest.mark.usefixtures("renewal_due")
def test_the_timers_renewal_installs_a_new_certificate_and_drops_no_request(
    visitor: Host, edge: Host
) -> None:
    before = served_serial(visitor, edge)
    load: dict[str, object] = {}

    def run_load() -> None:
        load.update(
            json.loads(
                visitor.check_output(
                    "http-load %s --resolve=%s --cafile=%s --seconds=25 --requests=100000 "
                    "--concurrency=4",
                    f"https://{NAME}/?max_age=60",
                    address(edge),
                    ROOT,
                )
            )
        )

    thread = threading.Thread(target=run_load)
    thread.start()
    # The unit certbot.timer starts: the same command, environment and hooks.
    edge.check_output("systemctl start certbot.service")
    thread.join()
    after = served_serial(visitor, edge)
    assert after != before
    assert load["failed"] == 0, load
    assert load["requests"] > 100, load
    assert edge.service("certbot.timer").is_running


def test_a_certificate_hitch_refuses_is_never_installed(visitor: Host, edge: Host) -> None:
    before = served_serial(visitor, edge)
    # A key that does not match the certificate.
    edge.check_output(
        "mkdir -p /tmp/bad && cp /etc/letsencrypt/live/djangostack/fullchain.pem /tmp/bad/ && "
        "openssl ecparam -name prime256v1 -genkey -noout -out /tmp/bad/privkey.pem"
    )
    out = edge.run("RENEWED_LINEAGE=/tmp/bad %s", HOOK)
    assert out.rc != 0
    assert "previous certificate kept" in out.stderr
    edge.check_output("systemctl reload hitch")
    assert served_serial(visitor, edge) == before
