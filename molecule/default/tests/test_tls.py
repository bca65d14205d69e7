"""HTTPS at the lab's front door: HTTP/2 with HSTS on a certificate from the lab's ACME
server, plain HTTP redirected, a TLS scan (protocols, ciphers, the chain), Django's own
deployment check, Secure cookies, and a renewal through the timer's service under load."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from harness.lab import (
    ACME_ROOTS,
    CURL_FRONT_DOOR,
    FRONT_DOOR,
    FRONT_DOOR_ADDRESS,
    FRONT_DOOR_NAME,
    FRONT_DOOR_PORT,
    MANAGE,
    PLAIN_FRONT_DOOR,
    BackgroundLoad,
    on_host,
)

RENEWAL = "/etc/letsencrypt/renewal/djangostack.conf"
# Mozilla's intermediate profile: ECDHE with AES-GCM or ChaCha20 on TLS 1.2, and TLS 1.3's
# own suites.
STRONG = re.compile(
    r"^(ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)"
    r"|TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256))$"
)


def curl(*args: str) -> str:
    return subprocess.run(
        ["curl", "-s", *CURL_FRONT_DOOR, *args], capture_output=True, text=True, check=True
    ).stdout


def served_certificate() -> str:
    """The certificate the front door serves, verified against the lab's ACME roots (which
    also proves the chain complete: the roots alone cannot reach the leaf)."""
    out = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{FRONT_DOOR_ADDRESS}:{FRONT_DOOR_PORT}",
            "-servername",
            FRONT_DOOR_NAME,
            "-CAfile",
            str(ACME_ROOTS),
            "-verify_return_error",
        ],
        input="",
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "Verify return code: 0 (ok)" in out.stdout, (
        out.stdout + out.stderr
    )
    return out.stdout[
        out.stdout.index("-----BEGIN") : out.stdout.index("-----END CERTIFICATE-----")
    ]


def test_the_front_door_answers_http2_with_hsts() -> None:
    head = curl("--http2", "-I", FRONT_DOOR)
    assert head.startswith("HTTP/2 200"), head
    assert re.search(
        r"(?mi)^strict-transport-security: max-age=300; includeSubDomains\r?$", head
    ), head


def test_the_certificate_comes_from_the_labs_acme_server_with_its_chain() -> None:
    certificate = served_certificate()
    issuer = subprocess.run(
        ["openssl", "x509", "-noout", "-issuer", "-ext", "subjectAltName"],
        input=certificate + "-----END CERTIFICATE-----\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Pebble Intermediate" in issuer and f"DNS:{FRONT_DOOR_NAME}" in issuer, issuer


def test_plain_http_answers_only_a_redirect_to_https() -> None:
    for method in ("GET", "POST"):
        answer = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{redirect_url}",
                "-X",
                method,
                "-H",
                f"Host: {FRONT_DOOR_NAME}",
                f"{PLAIN_FRONT_DOOR}accounts/login/?next=/",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert answer == f"301 {FRONT_DOOR}accounts/login/?next=/", answer


def test_the_tls_scan_finds_no_old_protocol_and_no_weak_cipher() -> None:
    scan = subprocess.run(
        [
            "sslscan",
            "--no-colour",
            f"--sni-name={FRONT_DOOR_NAME}",
            f"{FRONT_DOOR_ADDRESS}:{FRONT_DOOR_PORT}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    protocols = dict(re.findall(r"(?m)^(SSLv[23]|TLSv1\.[0-3])\s+(enabled|disabled)", scan))
    assert protocols == {
        "SSLv2": "disabled",
        "SSLv3": "disabled",
        "TLSv1.0": "disabled",
        "TLSv1.1": "disabled",
        "TLSv1.2": "enabled",
        "TLSv1.3": "enabled",
    }, scan
    accepted = re.findall(r"(?m)^(?:Preferred|Accepted)\s+(TLSv1\.[23])\s+(\d+) bits\s+(\S+)", scan)
    assert accepted, scan
    weak = [row for row in accepted if int(row[1]) < 128 or not STRONG.match(row[2])]
    assert weak == [], scan
    assert not re.search(r"(?m)^TLSv\S+ vulnerable to heartbleed", scan), scan


def test_djangos_deployment_check_reports_nothing() -> None:
    out = on_host(
        "web1",
        *MANAGE,
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
    )
    assert "System check identified no issues" in out, out


def test_the_sign_in_cookies_are_secure() -> None:
    head = curl("-D", "-", "-o", "/dev/null", f"{FRONT_DOOR}accounts/login/")
    cookies = re.findall(r"(?mi)^set-cookie: (.*)$", head)
    assert any(c.startswith("csrftoken=") for c in cookies), head
    assert all("; Secure" in c for c in cookies), cookies


@pytest.fixture
def renewal_due() -> Iterator[None]:
    """certbot renews within renew_before_expiry of a certificate's end; pebble's last
    years, so the test brings the window over it, and puts it back."""
    original = on_host("varnish1", "cat", RENEWAL)
    on_host(
        "varnish1",
        "sed",
        "-i",
        "/^renew_before_expiry/d; 1i renew_before_expiry = 3650 days",
        RENEWAL,
    )
    yield
    on_host("varnish1", "sh", "-c", f"cat > {RENEWAL} <<'EOF'\n{original}\nEOF")


@pytest.mark.usefixtures("renewal_due")
def test_the_timers_renewal_serves_a_new_certificate_and_drops_no_request() -> None:
    before = served_certificate()
    with BackgroundLoad(FRONT_DOOR, requests=100_000, concurrency=4, seconds=60) as load:
        # The unit certbot.timer starts: the same command, environment and hooks.
        on_host("varnish1", "systemctl", "start", "certbot.service")
    assert served_certificate() != before
    assert load.result.failed == 0, load.result.summary()
    assert load.result.requests > 100, load.result.summary()
