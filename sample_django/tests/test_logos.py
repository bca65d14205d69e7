"""Team logos: the write API's upload, the admin's, and the team page that shows them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from league.generator import LeagueSize
from league.models import Team

pytestmark = pytest.mark.django_db

URL = "/api/teams/AVA/logo/"
TOKEN = "test-api-token"


def _png_bytes() -> bytes:
    """A 4x4 PNG, made here: the tests need no image file of their own."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _png(name: str = "logo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, _png_bytes(), content_type="image/png")


def _upload(
    client: Client, logo: SimpleUploadedFile | None, url: str = URL, token: str | None = TOKEN
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(url, {"logo": logo} if logo is not None else {}, headers=headers)


@pytest.fixture
def media(tmp_path: Path, settings: Any) -> Path:
    """The default storage is a folder of this test's own."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def _stored(media: Path) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


def test_an_upload_is_stored_and_named(client: Client, league: LeagueSize, media: Path) -> None:
    response = _upload(client, _png())
    assert response.status_code == 201
    assert response.json() == {
        "team": "AVA",
        "logo": "team-logos/logo.png",
        "url": "/media/team-logos/logo.png",
    }
    assert "no-store" in response["Cache-Control"]
    assert Team.objects.get(abbreviation="AVA").logo.name == "team-logos/logo.png"
    with Image.open(media / "team-logos" / "logo.png") as image:
        assert (image.format, image.size) == ("PNG", (4, 4))


def test_two_uploads_of_one_name_are_two_files(
    client: Client, league: LeagueSize, media: Path
) -> None:
    first = _upload(client, _png()).json()["logo"]
    second = _upload(client, _png()).json()["logo"]
    assert first != second
    assert second.startswith("team-logos/logo_") and second.endswith(".png")
    # Nothing overwritten: the first file is still there for the pages that show it.
    assert _stored(media) == sorted([first, second])
    assert Team.objects.get(abbreviation="AVA").logo.name == second


def test_a_path_in_the_file_name_is_ignored(
    client: Client, league: LeagueSize, media: Path
) -> None:
    response = _upload(client, _png("../../outside.png"))
    assert response.json()["logo"] == "team-logos/outside.png"
    assert _stored(media) == ["team-logos/outside.png"]


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_403_without_the_right_token(
    client: Client, league: LeagueSize, media: Path, token: str | None
) -> None:
    response = _upload(client, _png(), token=token)
    assert response.status_code == 403
    assert "error" in response.json()
    assert _stored(media) == []
    assert not Team.objects.get(abbreviation="AVA").logo


def test_no_configured_token_refuses_everyone(
    client: Client, league: LeagueSize, media: Path, settings: Any
) -> None:
    settings.API_TOKEN = ""
    assert _upload(client, _png(), token="").status_code == 403


def test_an_unknown_team_is_404(client: Client, league: LeagueSize, media: Path) -> None:
    response = _upload(client, _png(), url="/api/teams/NOPE/logo/")
    assert response.status_code == 404
    assert response.json() == {"error": "unknown team NOPE"}
    assert _stored(media) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (None, None, "This field is required"),
        ("logo.png", b"not an image", "valid image"),
        ("logo.png", b"", "empty"),
        # An image, but with a name the media server would serve as a page.
        ("logo.html", _png_bytes(), "extension"),
    ],
)
def test_a_missing_or_invalid_image_is_400(
    client: Client,
    league: LeagueSize,
    media: Path,
    name: str | None,
    content: bytes | None,
    message: str,
) -> None:
    logo = None if name is None else SimpleUploadedFile(name, content or b"", "image/png")
    response = _upload(client, logo)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("field 'logo': ") and message in error
    assert _stored(media) == []


def test_get_is_not_allowed(client: Client) -> None:
    assert client.get(URL).status_code == 405


def test_no_primary_is_503_and_leaves_no_file(
    client: Client, league: LeagueSize, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def no_primary(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection to server at 127.0.0.1 failed")

    monkeypatch.setattr(Team, "save", no_primary)
    response = _upload(client, _png())
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert _stored(media) == []


def test_the_team_page_shows_the_logo(client: Client, league: LeagueSize, media: Path) -> None:
    assert "<img" not in client.get("/teams/AVA/2001/").content.decode()
    url = _upload(client, _png()).json()["url"]
    body = client.get("/teams/AVA/2001/").content.decode()
    assert f'<img class="logo" src="{url}" alt="' in body


def test_the_admin_uploads_a_logo(admin_client: Client, league: LeagueSize, media: Path) -> None:
    team = Team.objects.get(abbreviation="AVA")
    change = f"/admin/league/team/{team.pk}/change/"
    assert 'enctype="multipart/form-data"' in admin_client.get(change).content.decode()
    response = admin_client.post(
        change,
        {
            "conference": team.conference_id,
            "city": team.city,
            "name": team.name,
            "abbreviation": team.abbreviation,
            "logo": _png("admin.png"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    team.refresh_from_db()
    assert team.logo.name == "team-logos/admin.png"
    assert _stored(media) == ["team-logos/admin.png"]


def test_a_member_cannot_upload_without_the_token(
    client: Client, league: LeagueSize, media: Path
) -> None:
    # A signed-in session is not the API's credential: only the bearer token is.
    client.force_login(User.objects.create_user("fan", password="x"))
    assert _upload(client, _png(), token=None).status_code == 403
