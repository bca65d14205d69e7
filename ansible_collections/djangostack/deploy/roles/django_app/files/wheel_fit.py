"""Which downloaded wheels cannot install on the web hosts, and why, in plain words.

A lock resolved on the controller's Python can name a version the hosts' older Python
refuses (soupsieve 4.1.4 requires Python >=3.11.5; Debian 12 runs 3.11.2). pip on the hosts
would say so only at install time, after the release was shipped. This reads each wheel as
the hosts' pip would, without installing it: its METADATA's Requires-Python and the tags in
its file name, against the hosts' full Python version and their platforms.

build_release.py imports misfits() (this file sits beside it); from a shell:

  python wheel_fit.py --wheels DIR --python-version 3.11.2 --platform manylinux_2_28_x86_64

prints one line per wheel that does not fit and exits 1, or prints nothing and exits 0.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

# manylinux_2_X wheels need glibc 2.X or newer: a host that takes manylinux_2_28 takes every
# older one too. The legacy names are aliases of a glibc version (PEP 600).
MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def glibc_platforms(platform: str) -> set[str]:
    """The platform tags a host of `platform` installs: for manylinux, every glibc up to its
    own, under both spellings; any other tag only itself."""
    legacy, _sep, legacy_arch = platform.partition("_")
    if legacy in LEGACY_MANYLINUX:
        glibc, arch = LEGACY_MANYLINUX[legacy], legacy_arch
    elif match := MANYLINUX.match(platform):
        glibc, arch = (int(match[1]), int(match[2])), match[3]
    else:
        return {platform}
    major, newest = glibc
    tags = {f"manylinux_{major}_{minor}_{arch}" for minor in range(newest + 1)}
    tags |= {f"{name}_{arch}" for name, version in LEGACY_MANYLINUX.items() if version <= glibc}
    return tags


def supported_tags(python: Version, platforms: list[str]) -> set[Tag]:
    """The tags the hosts' pip accepts, as pip computes them for a CPython of that version:
    cp3XX (its own ABI, abi3 from older versions, none), then py3X/py3 for the platforms
    and `any`."""
    expanded = sorted(set().union(*(glibc_platforms(p) for p in platforms)))
    version = python.release[:2]
    interpreter = f"cp{version[0]}{version[1]}"
    return {
        *cpython_tags(version, abis=[interpreter], platforms=expanded),
        *compatible_tags(version, interpreter=interpreter, platforms=expanded),
    }


def requires_python(wheel: Path) -> str | None:
    """The wheel's Requires-Python (None when it states none), from its METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
        if len(names) != 1:
            raise ValueError(f"{len(names)} METADATA files, a wheel has one")
        metadata = HeaderParser().parsestr(archive.read(names[0]).decode("utf-8"))
    return metadata.get("Requires-Python")


def misfit(
    wheel: Path, python: Version, python_version: str, tags: set[Tag], platforms: list[str]
) -> str | None:
    """Why this wheel cannot install on the hosts, or None when it can."""
    try:
        name, version, _build, wheel_tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as error:
        return f"{wheel.name} is not a wheel pip can install: {error}"
    try:
        requires = requires_python(wheel)
    except (zipfile.BadZipFile, ValueError, UnicodeDecodeError) as error:
        return f"{name} {version} ({wheel.name}) is not a wheel pip can install: {error}"
    if requires:
        try:
            # pip accepts a pre-release Python (3.13.0rc1) as that version, and so does this.
            fits = SpecifierSet(requires).contains(python, prereleases=True)
        except InvalidSpecifier:
            return f"{name} {version} states an invalid Requires-Python {requires!r}"
        if not fits:
            return (
                f"{name} {version} requires Python {requires}; "
                f"the web hosts run Python {python_version}"
            )
    if wheel_tags.isdisjoint(tags):
        interpreter = "cp{}{}".format(*python.release[:2])
        built_for = ", ".join(sorted(str(tag) for tag in wheel_tags))
        return (
            f"{name} {version} has no wheel for {interpreter} on {' or '.join(platforms)} "
            f"({wheel.name} is for {built_for})"
        )
    return None


def misfits(wheel_dir: Path, python_version: str, platforms: list[str]) -> list[str]:
    """One message per wheel in wheel_dir that cannot install on the hosts, sorted by file.

    python_version is the hosts' full version (3.11.2): Requires-Python bounds often name a
    micro release, and 3.11 alone would be read as 3.11.0. platforms are pip's platform tags
    (manylinux_2_28_x86_64); each also admits the older manylinux tags of its architecture.
    """
    if not wheel_dir.is_dir():
        raise FileNotFoundError(f"{wheel_dir}: no such directory of wheels")
    if not platforms:
        raise ValueError("platforms must name at least one platform tag")
    try:
        python = Version(python_version)
    except InvalidVersion as error:
        raise ValueError(f"python_version must be a version like 3.11.2: {error}") from error
    if len(python.release) < 2:
        raise ValueError(f"python_version must be a version like 3.11.2: got {python_version}")
    tags = supported_tags(python, platforms)
    messages = (
        misfit(wheel, python, python_version, tags, platforms)
        for wheel in sorted(wheel_dir.glob("*.whl"))
    )
    return [message for message in messages if message]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="a directory of .whl files")
    parser.add_argument("--python-version", required=True, help="the hosts' Python, e.g. 3.11.2")
    parser.add_argument("--platform", action="append", required=True, help="a wheel platform tag")
    args = parser.parse_args(argv)
    try:
        messages = misfits(args.wheels, args.python_version, args.platform)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    for message in messages:
        print(message)
    return 1 if messages else 0


if __name__ == "__main__":
    sys.exit(main())
