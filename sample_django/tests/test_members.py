"""Members: the sign-in page, their private pages, and the command that creates them."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "a member's long passphrase"


def _sign_in(client: Client, username: str, password: str) -> object:
    """As a browser does: the form first (its CSRF cookie and token), then the POST."""
    form = client.get("/accounts/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.content)
    assert token is not None
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token[1].decode()},
    )


def test_the_sign_in_page_is_never_shared() -> None:
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    # Its CSRF cookie makes it personal: no shared cache may keep it.
    assert "csrftoken" in response.cookies
    assert "public" not in response.get("Cache-Control", "")


@pytest.mark.usefixtures("league")
def test_a_member_signs_in_and_sees_private_pages() -> None:
    User.objects.create_user("fan", password=PASSWORD)
    client = Client(enforce_csrf_checks=True)
    response = _sign_in(client, "fan", PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/")
    home = client.get("/")
    assert b"Signed in as fan" in home.content
    assert "private" in home["Cache-Control"]


def test_a_wrong_password_is_refused() -> None:
    User.objects.create_user("fan", password=PASSWORD)
    response = _sign_in(Client(enforce_csrf_checks=True), "fan", "not it")
    assert response.status_code == 200  # the form again, with its error
    assert "sessionid" not in response.cookies


def test_ensure_member_creates_then_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGOSTACK_MEMBER_PASSWORD", PASSWORD)
    outputs = []
    for _ in range(2):
        out = StringIO()
        call_command("ensure_member", "--username", "fan", stdout=out)
        outputs.append(out.getvalue().strip())
    assert outputs == ["member fan: created", "member fan: unchanged"]
    user = User.objects.get(username="fan")
    assert user.check_password(PASSWORD) and not user.is_staff

    monkeypatch.setenv("DJANGOSTACK_MEMBER_PASSWORD", PASSWORD + " changed")
    out = StringIO()
    call_command("ensure_member", "--username", "fan", stdout=out)
    assert out.getvalue().strip() == "member fan: updated"


def test_ensure_member_wants_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGOSTACK_MEMBER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="DJANGOSTACK_MEMBER_PASSWORD is empty"):
        call_command("ensure_member", "--username", "fan")
    assert not User.objects.filter(username="fan").exists()
