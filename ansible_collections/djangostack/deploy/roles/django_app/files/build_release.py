#!/usr/bin/env python3
"""Build a release of a Django project on the controller, once per content.

The web hosts have no PyPI. Everything they need arrives as two archives built here:

  release.tar.gz  src/ (the project, with a RELEASE file), wheels/ (every locked
                  requirement as a wheel for the hosts' Python and platform) and
                  requirements.txt (the lock, hashes included)
  static.tar.gz   collectstatic's output, for the hosts that serve /static/

The release id is a digest of what goes in: the project's files, the lock and the target
Python and platforms. The same source builds the same id, so building again is a no-op
and a deploy of unchanged code changes nothing on the hosts.

Prints one JSON object: {"changed", "release", "dir", "release_archive", "static_archive"}.
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# A marker written last: a build that died half-way is redone, never shipped.
COMPLETE = "COMPLETE"


def pip_env() -> dict[str, str]:
    """pip's environment for hash-locked builds.

    Configuration files and extra find-links or constraints (a machine's local wheel
    cache, for instance) would offer files whose hashes the lock does not list, and
    --require-hashes then refuses them: only the index settings are kept.
    """
    env = {k: v for k, v in os.environ.items() if k not in {"PIP_FIND_LINKS", "PIP_CONSTRAINT"}}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def source_files(source: Path, excludes: list[str]) -> list[Path]:
    """The project's files, sorted, without the parts a release does not carry."""
    files = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in excludes):
            continue
        if path.is_file():
            files.append(rel)
    return files


def release_id(source: Path, files: list[Path], lock: Path, target: list[str]) -> str:
    digest = hashlib.sha256()
    for item in target:
        digest.update(item.encode() + b"\0")
    digest.update(lock.read_bytes() + b"\0")
    for rel in files:
        digest.update(str(rel).encode() + b"\0")
        digest.update((source / rel).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def run(argv: list[str], **kwargs: object) -> None:
    """Run a build step; its output goes to stderr, stdout is kept for the result."""
    subprocess.run(argv, check=True, stdout=sys.stderr, **kwargs)  # type: ignore[call-overload]


def build_venv(build_dir: Path, lock: Path) -> Path:
    """A venv on the controller with the locked requirements, to run collectstatic.

    Shared by every release with the same lock; built from the index with the same
    hashes the hosts' wheels are checked against.
    """
    key = hashlib.sha256(lock.read_bytes() + sys.version.encode()).hexdigest()[:12]
    venv = build_dir / f"venv-{key}"
    python = venv / "bin" / "python"
    if (venv / COMPLETE).exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    run(
        [str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(lock)],
        env=pip_env(),
    )
    (venv / COMPLETE).touch()
    return python


def build(args: argparse.Namespace) -> dict[str, object]:
    source: Path = args.source.resolve()
    lock: Path = args.requirements.resolve()
    build_dir: Path = args.build_dir.resolve()
    target = [f"python={args.python_version}", *(f"platform={p}" for p in args.platform)]

    files = source_files(source, args.exclude)
    if not (source / "manage.py").exists():
        raise SystemExit(f"{source}: no manage.py, not a Django project")
    release = release_id(source, files, lock, target)
    out = build_dir / release
    result: dict[str, object] = {
        "changed": False,
        "release": release,
        "dir": str(out),
        "release_archive": str(out / "release.tar.gz"),
        "static_archive": str(out / "static.tar.gz"),
    }
    if (out / COMPLETE).exists():
        return result

    with tempfile.TemporaryDirectory(dir=build_dir, prefix=f".{release}-") as tmp:
        work = Path(tmp)
        src = work / "src"
        for rel in files:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, src / rel)
        (src / "RELEASE").write_text(release + "\n", encoding="utf-8")
        shutil.copy2(lock, work / "requirements.txt")

        # Wheels for the hosts, not for this machine: binary only, for their Python
        # version and platforms, every file checked against the lock's hashes.
        platform_args = [arg for p in args.platform for arg in ("--platform", p)]
        run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--require-hashes", "--no-deps",
             "--only-binary=:all:", "--python-version", args.python_version,
             "--implementation", "cp", *platform_args,
             "--dest", str(work / "wheels"), "-r", str(lock)],
            env=pip_env(),
        )  # fmt: skip

        # collectstatic needs settings but no database: the app reads them from a JSON
        # file, given here with throwaway values (no secret ever reaches a build).
        python = build_venv(build_dir, lock)
        settings = work / "build-settings.json"
        settings.write_text(
            json.dumps(
                {
                    "secret_key": "collectstatic-only",
                    "database": {"name": "build", "user": "build", "password": "build"},
                    "static_root": str(work / "static"),
                }
            ),
            encoding="utf-8",
        )
        run(
            [str(python), "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=src,
            env={**os.environ, args.settings_env: str(settings), "PYTHONDONTWRITEBYTECODE": "1"},
        )

        with tarfile.open(work / "release.tar.gz", "w:gz") as archive:
            for name in ("src", "wheels", "requirements.txt"):
                archive.add(work / name, arcname=name)
        with tarfile.open(work / "static.tar.gz", "w:gz") as archive:
            # Unpacked straight into the static root of each host that serves it.
            archive.add(work / "static", arcname=".")

        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        for name in ("release.tar.gz", "static.tar.gz"):
            (work / name).rename(out / name)
        (out / COMPLETE).touch()
    result["changed"] = True
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the project (manage.py)")
    parser.add_argument("--requirements", type=Path, required=True, help="the hashed lock")
    parser.add_argument("--build-dir", type=Path, required=True)
    parser.add_argument("--python-version", required=True, help="the hosts' Python, e.g. 3.11")
    parser.add_argument("--platform", action="append", required=True, help="a wheel platform tag")
    parser.add_argument("--exclude", action="append", default=[], help="a path-part pattern")
    parser.add_argument("--settings-env", default="DJANGOSTACK_SETTINGS")
    args = parser.parse_args(argv)
    # Made here, before the lock that lives in it; build() relies on it.
    args.build_dir.mkdir(parents=True, exist_ok=True)
    try:
        # One build at a time per build directory: a second deploy from this controller
        # (or a test scenario running beside another) waits, then finds the release
        # complete, instead of racing the first over the same release and shared venv.
        with (args.build_dir / ".lock").open("w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            result = build(args)
    except subprocess.CalledProcessError as exc:
        print(json.dumps({"failed": True, "msg": f"build step failed: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
