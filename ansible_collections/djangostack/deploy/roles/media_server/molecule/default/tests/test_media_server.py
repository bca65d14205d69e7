"""Behaviour of media_server, nginx's WebDAV as the lab's media store: uploads from the
writers only, reads from the readers (and writers), 403 for anyone else; a MOVE with
"Overwrite: F" never replaces a file; folders, the upload limit, ownership on disk, files
that outlive a restart, one listening address, and refused settings that change nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from testinfra.host import Host

from harness.ansible_cli import run_scenario_playbook

# The edge scenarios' shared client code (harness/edge_client.py).
from harness.edge_client import address, host, request

# The role's default root, which the scenario keeps; media_server_max_upload_mb is 1 in
# converge.yml.
ROOT = "/srv/djangostack-media"
LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Host:
    return host("media-server")


@pytest.fixture(scope="module")
def writer() -> Host:
    """In the `web` group: may write (and read)."""
    return host("media-writer")


@pytest.fixture(scope="module")
def reader() -> Host:
    """In the `lb` group: may read."""
    return host("media-reader")


@pytest.fixture(scope="module")
def stranger() -> Host:
    """On the same network, in neither group: may do nothing."""
    return host("media-stranger")


@pytest.fixture(scope="module")
def url(server: Host) -> str:
    return f"http://{address(server)}"


def fresh(suffix: str = ".bin") -> str:
    """A path no earlier test or run has used (verify may run again on the same server)."""
    return f"/molecule/{uuid.uuid4().hex}{suffix}"


def status(client: Host, method: str, url: str, *options: str) -> str:
    """The status of one request from client; options are curl's, each one word."""
    return client.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' -X %s" + " %s" * len(options) + " %s",
        method,
        *options,
        url,
    )


def put(client: Host, url: str, content: str) -> str:
    """PUT content from client; its status."""
    return client.check_output(
        "printf %%s %s | curl -s -o /dev/null -w '%%{http_code}' -X PUT --data-binary @- %s",
        content,
        url,
    )


def put_random(client: Host, url: str, size: int = 64 * 1024) -> tuple[str, str]:
    """PUT size random bytes from client: its status, and the bytes' SHA-256."""
    digest, code = client.check_output(
        "f=$(mktemp) && head -c %s /dev/urandom > $f && sha256sum < $f | cut -d' ' -f1 "
        "&& curl -s -o /dev/null -w '%%{http_code}' -T $f %s; rm -f $f",
        str(size),
        url,
    ).split()
    return code, digest


def sha256(client: Host, url: str) -> str:
    """The SHA-256 of the body client GETs from url (failing on any status but 2xx)."""
    return client.check_output(
        "f=$(mktemp) && curl -sf -o $f %s && sha256sum < $f | cut -d' ' -f1; "
        "r=$?; rm -f $f; exit $r",
        url,
    )


def move(client: Host, url: str, source: str, destination: str, overwrite: str) -> str:
    return status(
        client,
        "MOVE",
        url + source,
        "-H",
        f"Destination: {url}{destination}",
        "-H",
        f"Overwrite: {overwrite}",
    )


def test_an_upload_from_a_writer_reads_back_byte_for_byte_on_a_reader(
    writer: Host, reader: Host, url: str
) -> None:
    path = fresh()
    code, digest = put_random(writer, url + path)
    assert code == "201"
    assert sha256(reader, url + path) == digest
    # The writer reads back what it stored (the storage's exists() and open()).
    assert sha256(writer, url + path) == digest


def test_files_keep_their_validators_get_nosniff_and_no_cache_policy(
    writer: Host, reader: Host, url: str
) -> None:
    """The load balancers set the caching policy; the store must not pre-empt it, and must
    keep what lets them revalidate (ETag, Last-Modified)."""
    path = fresh(".html")
    assert put(writer, url + path, "<script>alert(1)</script>") == "201"
    headers, body = request(reader, url + path)
    assert (headers["status"], body) == ("200", "<script>alert(1)</script>")
    assert headers["etag"] and headers["last-modified"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in headers
    assert headers["server"] == "nginx"  # no version


def test_a_stranger_can_neither_read_nor_write(writer: Host, stranger: Host, url: str) -> None:
    path = fresh()
    assert put_random(writer, url + path)[0] == "201"
    assert status(stranger, "GET", url + path) == "403"
    assert status(stranger, "HEAD", url + path, "-I") == "403"
    assert put(stranger, url + fresh(), "intruder") == "403"
    assert put(stranger, url + path, "intruder") == "403"
    assert status(stranger, "DELETE", url + path) == "403"


def test_a_reader_cannot_put_delete_or_move(writer: Host, reader: Host, url: str) -> None:
    path = fresh()
    code, digest = put_random(writer, url + path)
    assert code == "201"
    assert put(reader, url + fresh(), "not allowed") == "403"
    assert put(reader, url + path, "not allowed") == "403"
    assert status(reader, "DELETE", url + path) == "403"
    assert move(reader, url, path, fresh(), "T") == "403"
    assert sha256(reader, url + path) == digest


def test_move_with_overwrite_f_never_replaces_an_existing_file(
    writer: Host, reader: Host, url: str
) -> None:
    """How the app saves an upload: PUT to a temporary name, then MOVE with Overwrite: F to
    the final one. When another upload took the name first, nginx must answer 412 and
    leave both files as they were (the app then picks another name)."""
    final, temporary = fresh(), fresh(".part")
    code, first = put_random(writer, url + final)
    assert code == "201"
    code, second = put_random(writer, url + temporary)
    assert code == "201"
    assert move(writer, url, temporary, final, "F") == "412"
    assert sha256(reader, url + final) == first
    assert sha256(reader, url + temporary) == second


def test_move_onto_a_free_name_renames_the_upload(writer: Host, reader: Host, url: str) -> None:
    temporary, final = fresh(".part"), fresh()
    code, digest = put_random(writer, url + temporary)
    assert code == "201"
    assert move(writer, url, temporary, final, "F") in {"201", "204"}
    assert sha256(reader, url + final) == digest
    assert status(reader, "GET", url + temporary) == "404"


def test_a_writer_deletes_a_file(writer: Host, reader: Host, url: str) -> None:
    path = fresh()
    assert put_random(writer, url + path)[0] == "201"
    assert status(writer, "DELETE", url + path) == "204"
    assert status(reader, "GET", url + path) == "404"


def test_a_put_to_a_nested_path_creates_its_folders(
    server: Host, writer: Host, reader: Host, url: str
) -> None:
    folder = f"/molecule/{uuid.uuid4().hex}/2025/06"
    assert put(writer, f"{url}{folder}/photo.jpg", "jpeg bytes") == "201"
    assert request(reader, f"{url}{folder}/photo.jpg")[1] == "jpeg bytes"
    assert server.file(ROOT + folder).is_directory


def test_folders_are_never_listed_deleted_or_moved(
    server: Host, writer: Host, reader: Host, url: str
) -> None:
    """nginx's WebDAV deletes and moves folders recursively: a DELETE of / would empty the
    store. A folder's name without its slash is refused by nginx itself (409)."""
    folder = f"/molecule/{uuid.uuid4().hex}"
    assert put(writer, f"{url}{folder}/kept.txt", "kept") == "201"
    assert status(reader, "GET", f"{url}{folder}/") == "403"
    assert status(reader, "GET", f"{url}/") == "403"
    assert status(writer, "DELETE", f"{url}{folder}/", "-H", "Depth: infinity") == "403"
    assert status(writer, "DELETE", f"{url}/", "-H", "Depth: infinity") == "403"
    assert move(writer, url, f"{folder}/", f"{folder}-moved/", "T") == "403"
    assert status(writer, "DELETE", f"{url}{folder}") == "409"
    assert server.file(f"{ROOT}{folder}/kept.txt").content_string == "kept"
    # No PROPFIND (nginx's WebDAV has none): nothing lists the store.
    assert status(writer, "PROPFIND", f"{url}{folder}/kept.txt") == "405"


def test_an_upload_over_the_limit_gets_413_and_stores_nothing(
    server: Host, writer: Host, url: str
) -> None:
    too_big, just_fits = fresh(), fresh()
    assert put_random(writer, url + too_big, LIMIT + 1)[0] == "413"
    assert not server.file(ROOT + too_big).exists
    assert put_random(writer, url + just_fits, LIMIT)[0] == "201"


def test_uploads_survive_an_nginx_restart(
    server: Host, writer: Host, reader: Host, url: str
) -> None:
    path = fresh()
    code, digest = put_random(writer, url + path)
    assert code == "201"
    server.check_output("systemctl restart nginx")
    assert server.service("nginx").is_enabled
    assert sha256(reader, url + path) == digest


def test_nginx_listens_on_the_configured_address_only(server: Host) -> None:
    listeners = {line.split()[3] for line in server.check_output("ss -Htln").splitlines()}
    # 127.0.0.11 is Docker's resolver.
    assert {a for a in listeners if not a.startswith("127.0.0.11:")} == {f"{address(server)}:80"}
    # Nothing answers on loopback (curl: 7, connection refused).
    assert server.run("curl -s -o /dev/null http://127.0.0.1/").rc == 7


def test_files_on_disk_belong_to_www_data(server: Host, writer: Host, url: str) -> None:
    folder = f"/molecule/{uuid.uuid4().hex}"
    assert put(writer, f"{url}{folder}/owned.txt", "owned") == "201"
    for path, mode in ((ROOT, 0o755), (ROOT + folder, 0o755), (f"{ROOT}{folder}/owned.txt", 0o644)):
        entry = server.file(path)
        assert (entry.user, entry.group, entry.mode) == ("www-data", "www-data", mode), path
    # Bodies wait in <root>.tmp (the same filesystem, so a PUT lands by rename), readable
    # by nginx alone, and nothing stays there.
    temporary = server.file(ROOT + ".tmp")
    assert (temporary.user, temporary.mode) == ("www-data", 0o700)
    root_device, temporary_device = server.check_output(
        "stat -c %%d %s %s", ROOT, ROOT + ".tmp"
    ).split()
    assert root_device == temporary_device
    assert server.check_output("ls -A %s", ROOT + ".tmp") == ""


def test_requests_go_to_the_media_servers_own_logs(server: Host, writer: Host, url: str) -> None:
    """A MOVE's line names its destination and Overwrite header: who replaced what."""
    source, destination = fresh(".part"), fresh()
    assert put(writer, url + source, "logged") == "201"
    moved = move(writer, url, source, destination, "F")
    assert moved in {"201", "204"}
    log = server.file("/var/log/nginx/media-access.log").content_string
    assert f'"MOVE {source} HTTP/1.1" {moved}' in log
    assert f'"{url}{destination}" "F"' in log
    assert server.file("/var/log/nginx/media-error.log").exists


def test_refused_settings_change_nothing(server: Host, reader: Host, url: str) -> None:
    """A listener on every interface and writes from anywhere: the preflight names each
    variable, and the live configuration stays."""
    before = server.file("/etc/nginx/nginx.conf").content_string
    run = run_scenario_playbook(
        "converge.yml",
        "-e",
        json.dumps(
            {
                "media_server_listen_address": "0.0.0.0",
                "media_server_write_sources": ["0.0.0.0/0"],
            }
        ),
    )
    assert run.returncode != 0
    assert "media_server_listen_address must be one IPv4 address of this host" in run.output
    assert "media_server_write_sources must list IPv4 addresses or networks" in run.output
    assert server.file("/etc/nginx/nginx.conf").content_string == before
    assert status(reader, "GET", f"{url}/molecule/missing") == "404"
