"""The django_app role's wheel check (roles/django_app/files/wheel_fit.py): a lock whose
wheels cannot install on the web hosts is named package by package, with the Python it
needs, before a release is shipped. On wheels written here as the index serves them (a zip
whose file name carries the tags and whose METADATA states Requires-Python), against the
lab's web hosts: Debian 12's Python 3.11.2 on x86_64, manylinux_2_28 and older."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from harness import REPO

ROLE_FILES = REPO / "ansible_collections/djangostack/deploy/roles/django_app/files"
HOSTS_PYTHON = "3.11.2"
HOSTS_PLATFORMS = ["manylinux_2_28_x86_64"]


def load_wheel_fit() -> ModuleType:
    """The file as build_release.py imports it: a module named wheel_fit beside it."""
    spec = importlib.util.spec_from_file_location("wheel_fit", ROLE_FILES / "wheel_fit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


wheel_fit = load_wheel_fit()


def wheel(folder: Path, filename: str, requires_python: str | None = None) -> Path:
    """A wheel as pip downloads it: dist-info METADATA, WHEEL and RECORD, no code needed."""
    name, version = filename.split("-")[:2]
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python is not None:
        metadata += f"Requires-Python: {requires_python}\n"
    tags = filename.removesuffix(".whl").split("-")[-3:]
    wheel_file = "Wheel-Version: 1.0\nGenerator: test_wheel_fit\nRoot-Is-Purelib: false\n"
    wheel_file += "".join(
        f"Tag: {i}-{a}-{p}\n"
        for i in tags[0].split(".")
        for a in tags[1].split(".")
        for p in tags[2].split(".")
    )
    path = folder / filename
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist_info}/METADATA", metadata)
        archive.writestr(f"{dist_info}/WHEEL", wheel_file)
        archive.writestr(f"{dist_info}/RECORD", "")
    return path


def misfits(
    folder: Path, python: str = HOSTS_PYTHON, platforms: list[str] | None = None
) -> list[str]:
    return wheel_fit.misfits(folder, python, platforms or HOSTS_PLATFORMS)


def test_a_lock_that_fits_the_hosts_passes(tmp_path: Path) -> None:
    wheel(tmp_path, "django-5.1.15-py3-none-any.whl", ">=3.10")
    wheel(tmp_path, "psycopg_binary-3.3.9-cp311-cp311-manylinux_2_28_x86_64.whl", ">=3.10")
    wheel(tmp_path, "pymemcache-4.0.0-py2.py3-none-any.whl", ">=3.7")
    # No Requires-Python at all is no bound.
    wheel(tmp_path, "sqlparse-0.6.1-py3-none-any.whl")
    assert misfits(tmp_path) == []


def test_a_package_for_a_newer_micro_release_is_named_with_both_pythons(tmp_path: Path) -> None:
    # The lock pip-compile made on the controller's 3.11.7.
    wheel(tmp_path, "soupsieve-4.1.4-py3-none-any.whl", ">=3.11.5")
    wheel(tmp_path, "django-5.1.15-py3-none-any.whl", ">=3.10")
    assert misfits(tmp_path) == [
        "soupsieve 4.1.4 requires Python >=3.11.5; the web hosts run Python 3.11.2"
    ]
    # The same wheel fits the Python it was resolved on: the micro version decides.
    assert misfits(tmp_path, python="3.11.7") == []


@pytest.mark.parametrize(
    ("filename", "built_for"),
    [
        ("foo-1.0-cp311-cp311-macosx_11_0_arm64.whl", "cp311-cp311-macosx_11_0_arm64"),
        ("foo-1.0-cp311-cp311-win_amd64.whl", "cp311-cp311-win_amd64"),
        ("foo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl", "cp311-cp311-manylinux_2_28_aarch64"),
        # Needs a glibc newer than the hosts'.
        ("foo-1.0-cp311-cp311-manylinux_2_34_x86_64.whl", "cp311-cp311-manylinux_2_34_x86_64"),
        ("foo-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", "cp311-cp311-musllinux_1_2_x86_64"),
        # The right platform for another Python.
        ("foo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "cp312-cp312-manylinux_2_28_x86_64"),
        # abi3 from a newer Python than the hosts' does not run on theirs.
        ("foo-1.0-cp312-abi3-manylinux_2_28_x86_64.whl", "cp312-abi3-manylinux_2_28_x86_64"),
    ],
)
def test_a_wheel_for_another_platform_or_python_is_named(
    tmp_path: Path, filename: str, built_for: str
) -> None:
    wheel(tmp_path, filename, ">=3.8")
    assert misfits(tmp_path) == [
        f"foo 1.0 has no wheel for cp311 on manylinux_2_28_x86_64 ({filename} is for {built_for})"
    ]


@pytest.mark.parametrize(
    "filename",
    [
        "cryptography-43.0.0-cp39-abi3-manylinux_2_28_x86_64.whl",
        "cryptography-43.0.0-cp37-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "asgiref-3.13.0-py3-none-any.whl",
        "six-1.17.0-py2.py3-none-any.whl",
        "typing_extensions-4.16.0-cp311-none-any.whl",
    ],
)
def test_abi3_and_pure_wheels_fit(tmp_path: Path, filename: str) -> None:
    wheel(tmp_path, filename, ">=3.7")
    assert misfits(tmp_path) == []


@pytest.mark.parametrize(
    "filename",
    [
        "psycopg_binary-3.3.9-cp311-cp311-manylinux_2_17_x86_64.whl",
        "psycopg_binary-3.3.9-cp311-cp311-manylinux2014_x86_64.whl",
        "psycopg_binary-3.3.9-cp311-cp311-manylinux1_x86_64.whl",
        "psycopg_binary-3.3.9-cp311-cp311-manylinux_2_24_x86_64.whl",
    ],
)
def test_older_manylinux_wheels_fit_a_manylinux_2_28_host(tmp_path: Path, filename: str) -> None:
    wheel(tmp_path, filename, ">=3.10")
    assert misfits(tmp_path) == []


def test_the_role_s_two_platforms_are_both_accepted_and_named(tmp_path: Path) -> None:
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64"]
    wheel(tmp_path, "ok-1.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    wheel(tmp_path, "bad-1.0-cp311-cp311-win_amd64.whl")
    [message] = misfits(tmp_path, platforms=platforms)
    assert message.startswith(
        "bad 1.0 has no wheel for cp311 on manylinux_2_28_x86_64 or manylinux_2_17_x86_64"
    )


def test_one_message_per_misfit_in_file_order(tmp_path: Path) -> None:
    wheel(tmp_path, "zeta-2.0-py3-none-any.whl", ">=3.12")
    wheel(tmp_path, "alpha-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", ">=3.8")
    wheel(tmp_path, "middle-1.0-py3-none-any.whl", ">=3.8")
    assert [m.split(" ")[0] for m in misfits(tmp_path)] == ["alpha", "zeta"]


def test_a_file_that_is_not_a_wheel_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    with zipfile.ZipFile(tmp_path / "empty-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("empty/__init__.py", "")
    messages = misfits(tmp_path)
    assert [m.split(" ")[:2] for m in messages] == [["broken", "1.0"], ["empty", "1.0"]]
    assert all("is not a wheel pip can install" in m for m in messages)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        wheel_fit.misfits(tmp_path / "missing", HOSTS_PYTHON, HOSTS_PLATFORMS)
    with pytest.raises(ValueError, match="python_version"):
        wheel_fit.misfits(tmp_path, "three", HOSTS_PLATFORMS)
    with pytest.raises(ValueError, match="platforms"):
        wheel_fit.misfits(tmp_path, HOSTS_PYTHON, [])


def test_the_command_prints_the_misfits_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--wheels", str(tmp_path), "--python-version", HOSTS_PYTHON]
    argv += ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64"]
    wheel(tmp_path, "django-5.1.15-py3-none-any.whl", ">=3.10")
    assert wheel_fit.main(argv) == 0
    assert capsys.readouterr().out == ""
    wheel(tmp_path, "soupsieve-4.1.4-py3-none-any.whl", ">=3.11.5")
    assert wheel_fit.main(argv) == 1
    assert capsys.readouterr().out == (
        "soupsieve 4.1.4 requires Python >=3.11.5; the web hosts run Python 3.11.2\n"
    )
