"""The front door's clients (harness.lab's block): its HTTPS name pinned to an address and
its certificate verified, through urllib, the load driver, wrk and locust's client; the
tiers behind the TLS terminator reached directly. Against a local HTTPS server on
127.0.0.1 with a throwaway self-signed certificate for the front door's name, standing in
for hitch (the test moves the front door's port to it)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import Cookie, CookieJar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import lab, wrk
from harness.lab import (
    FRONT_DOOR_NAME,
    BackgroundLoad,
    TerminatorCookiePolicy,
    behind_terminator,
    is_front_door,
    load_options,
    pinned,
)
from harness.loadtest.site import TARGETS, Catalogue

REPO = Path(__file__).resolve().parents[2]


def certificate(name: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (its own root) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class Hitch(BaseHTTPRequestHandler):
    """Answers with the Host header it got; the server notes each connection's SNI."""

    protocol_version = "HTTP/1.1"
    server_names: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        body = json.dumps({"host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "web1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("certificates")
    return {name: certificate(name, folder) for name in (FRONT_DOOR_NAME, "elsewhere.test")}


@pytest.fixture(scope="module")
def hitch(certificates: dict[str, tuple[Path, Path]]) -> Iterator[int]:
    """The stand-in front door's port on 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificates[FRONT_DOOR_NAME])
    context.sni_callback = lambda sock, name, ctx: Hitch.server_names.append(name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hitch)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()


@pytest.fixture
def front_door(
    hitch: int, certificates: dict[str, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch
) -> str:
    """The front door's URL, its port moved to the stand-in's, its roots the stand-in's
    certificate."""
    monkeypatch.setattr(lab, "FRONT_DOOR_PORT", hitch)
    monkeypatch.setattr(lab, "ACME_ROOTS", certificates[FRONT_DOOR_NAME][0])
    Hitch.server_names.clear()
    return f"https://{FRONT_DOOR_NAME}:{hitch}/"


def test_front_door_urls_are_known_by_scheme_name_and_port() -> None:
    assert is_front_door(lab.FRONT_DOOR) and is_front_door(lab.FRONT_DOOR + "standings/?x=1")
    assert is_front_door(lab.FRONT_DOOR.rstrip("/"))  # conftest's and TARGETS' form
    assert not is_front_door(lab.PLAIN_FRONT_DOOR)
    assert not is_front_door(f"http://{FRONT_DOOR_NAME}:8443/")
    assert not is_front_door(f"https://{FRONT_DOOR_NAME}/")
    assert load_options([lab.FRONT_DOOR + "a", lab.FRONT_DOOR + "b"]) == {
        "cafile": str(lab.ACME_ROOTS),
        "resolve": "127.0.0.1",
    }
    assert load_options("http://127.0.0.1:8081/") == {}
    assert TARGETS["front"] == "https://www.djangostack.test:8443"


def test_pinned_sends_the_front_door_to_its_address_with_its_name_as_host() -> None:
    assert pinned(lab.FRONT_DOOR + "standings/?x=1") == (
        "https://127.0.0.1:8443/standings/?x=1",
        {"Host": "www.djangostack.test:8443"},
    )
    assert pinned("http://127.0.0.1:8081/") == ("http://127.0.0.1:8081/", {})


def test_wrk_loads_the_front_door_at_its_address_with_its_name_as_host() -> None:
    assert wrk.command(wrk.Load(lab.FRONT_DOOR, 10, 20, 2)) == [
        "wrk", "--latency", "-t2", "-c20", "-d10s",
        "-H", "Host: www.djangostack.test:8443", "https://127.0.0.1:8443/",
    ]  # fmt: skip
    assert wrk.command(wrk.Load("http://127.0.0.1:8081/", 10, 20))[-1] == "http://127.0.0.1:8081/"


def test_urlopen_reaches_the_front_doors_name_at_its_address(front_door: str) -> None:
    with lab.urlopen(front_door + "page") as response:
        answer = json.loads(response.read())
    assert answer == {"host": f"{FRONT_DOOR_NAME}:{lab.FRONT_DOOR_PORT}"}
    assert Hitch.server_names == [FRONT_DOOR_NAME]  # SNI: the name, not the address
    assert lab.served_by(front_door) == "web1"


def test_urlopen_refuses_a_certificate_the_roots_did_not_issue(
    front_door: str, certificates: dict[str, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab, "ACME_ROOTS", certificates["elsewhere.test"][0])
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        lab.urlopen(front_door)


def test_urlopen_leaves_other_urls_to_urllib(hitch: int) -> None:
    """Another name on the same port is not the front door: urllib resolves it (and
    here fails to), as it would without harness.lab."""
    with pytest.raises(urllib.error.URLError):
        lab.urlopen(f"https://unknown.invalid:{hitch}/", timeout=5)


def test_background_load_speaks_https_to_the_front_door(front_door: str) -> None:
    with BackgroundLoad(front_door, requests=40, concurrency=4, seconds=10) as load:
        result = load.finish()  # the load's own bound: 40 requests
    assert (result.requests, result.failed) == (40, 0), result.summary()
    assert result.served_by == {"web1": 40}
    # One keep-alive connection per worker, each with the name as SNI.
    assert Hitch.server_names == [FRONT_DOOR_NAME] * 4


@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed")
def test_wrk_measures_the_front_door_over_https(front_door: str) -> None:
    result = wrk.run(wrk.Load(front_door, seconds=1, connections=2))
    assert result.url == front_door and result.requests > 0 and result.failed == 0, result


def test_secure_cookies_go_back_over_http_to_the_tiers_behind_the_terminator_only() -> None:
    assert behind_terminator("http://127.0.0.1:8082/accounts/login/")
    assert not behind_terminator("https://127.0.0.1:8443/")
    assert not behind_terminator("http://www.example.test/")
    jar = CookieJar(TerminatorCookiePolicy())
    for domain in ("127.0.0.1", "www.example.test"):
        jar.set_cookie(secure_cookie("sessionid", domain))

    def sent(url: str) -> str | None:
        request = urllib.request.Request(url)
        jar.add_cookie_header(request)
        return request.get_header("Cookie")

    assert sent("http://127.0.0.1:8082/") == "sessionid=s1"
    assert sent("https://127.0.0.1:8443/") == "sessionid=s1"
    assert sent("http://www.example.test/") is None  # a real network: never in clear
    assert sent("https://www.example.test/") == "sessionid=s1"


def secure_cookie(name: str, domain: str) -> Cookie:
    return Cookie(
        version=0, name=name, value="s1", port=None, port_specified=False, domain=domain,
        domain_specified=False, domain_initial_dot=False, path="/", path_specified=True,
        secure=True, expires=None, discard=True, comment=None, comment_url=None, rest={},
    )  # fmt: skip


LOCUST_CLIENT = """
import sys
from geventhttpclient.url import URL
from harness.lab import pinned
from harness.loadtest.locustfile import front_door_pool

url, headers = pinned(sys.argv[2])
pool = front_door_pool(sys.argv[1], concurrency=1, network_timeout=5, connection_timeout=5)
response = pool.get_client(URL(url)).get("/", headers=headers)
print(response.status_code, response.read().decode())
"""


def run_locust_client(cafile: Path, front_door: str, tmp_path: Path, port: int) -> str:
    """locust's client for the front door (the locustfile's pool), in a process of its own
    (locust patches the standard library with gevent's); the front door's port patched in
    there too."""
    catalogue = tmp_path / "catalogue.json"
    Catalogue([2025], ["AAA", "BBB"], ["/teams/AAA/2025/"], ["/games/1/"]).save(catalogue)
    script = f"import harness.lab; harness.lab.FRONT_DOOR_PORT = {port}\n" + LOCUST_CLIENT
    return subprocess.run(
        [sys.executable, "-c", script, str(cafile), front_door],
        env={"LOADTEST_CATALOGUE": str(catalogue), "PATH": ""},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_locusts_client_reaches_the_front_door_and_checks_its_certificate(
    front_door: str, certificates: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    port = lab.FRONT_DOOR_PORT
    answer = run_locust_client(certificates[FRONT_DOOR_NAME][0], front_door, tmp_path, port)
    assert answer.strip() == f'200 {{"host": "{FRONT_DOOR_NAME}:{port}"}}'
    assert Hitch.server_names == [FRONT_DOOR_NAME]
    with pytest.raises(subprocess.CalledProcessError) as refused:
        run_locust_client(certificates["elsewhere.test"][0], front_door, tmp_path, port)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.value.stderr
