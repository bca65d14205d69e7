#!/usr/bin/env python3
"""Build a release of a Django project on the controller, once per content.

The web hosts have no PyPI. Everything they need arrives as two archives built here:

  release.tar.gz  src/ (the project, as it is), runtime/ (the release runtime: the
                  WSGI script and the management command line), wheels/ (every locked
                  requirement as a wheel for the hosts' Python and platform),
                  requirements.txt (the lock, hashes included) and static/
                  (collectstatic's output: the project's STATIC_ROOT on the web hosts,
                  where a manifest storage finds its manifest)
  static.tar.gz   the same static files, for the hosts that serve /static/

The release id is a digest of what goes in: the project's files, the runtime, the lock
and the target Python and platforms. The same source builds the same id, so building
again is a no-op and a deploy of unchanged code changes nothing on the hosts.

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

from wheel_fit import misfits


class LockMisfit(Exception):
    """A locked package that cannot install on the web hosts' Python or platform."""


# A marker written last: a build that died half-way is redone, never shipped.
COMPLETE = "COMPLETE"
# The release runtime every release carries (runtime/release_runtime.py says what it is).
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
RUNTIME_FILES = sorted(RUNTIME_DIR.glob("*.py"))


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
    for path in RUNTIME_FILES:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
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
        (work / "runtime").mkdir()
        for path in RUNTIME_FILES:
            shutil.copy2(path, work / "runtime" / path.name)
        shutil.copy2(lock, work / "requirements.txt")

        # Wheels for the hosts, not for this machine: binary only, for their Python
        # version and platforms, every file checked against the lock's hashes.
        platform_args = [arg for p in args.platform for arg in ("--platform", p)]
        run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--require-hashes", "--no-deps",
             "--only-binary=:all:", "--python-version", args.python_version,
             "--implementation", "cp", *platform_args, "--ignore-requires-python",
             "--dest", str(work / "wheels"), "-r", str(lock)],
            env=pip_env(),
        )  # fmt: skip
        # pip would refuse a wheel for another Python with a page of versions; wheel_fit
        # names the package and the Python it needs, before anything reaches a host.
        problems = misfits(work / "wheels", args.python_version, args.platform)
        if problems:
            raise LockMisfit(
                f"the lock {lock} does not fit the web hosts: "
                + "; ".join(problems)
                + " (playbooks/lock.yml resolves one that does)"
            )

        # collectstatic needs settings but no database: the release runtime reads them,
        # every variable the hosts get, here with throwaway values (no secret ever
        # reaches a build).
        python = build_venv(build_dir, lock)
        environment = work / "environment.json"
        environment.write_text(
            json.dumps(
                {
                    "DJANGO_SETTINGS_MODULE": args.settings_module,
                    "DJANGO_SECRET_KEY": "collectstatic-only-" + "x" * 32,
                    "DJANGO_ALLOWED_HOSTS": "localhost",
                    "DJANGO_DEBUG": "false",
                    "DATABASE_URL": "postgres://build:build@127.0.0.1:9/build",
                    "DATABASE_CONN_MAX_AGE": "0",
                    "CACHE_URL": "",
                    "DJANGO_STATIC_ROOT": str(work / "static"),
                    "DJANGO_MEDIA_STORAGE": json.dumps(
                        {
                            "BACKEND": "django.core.files.storage.FileSystemStorage",
                            "OPTIONS": {"location": str(work / "media")},
                        }
                    ),
                    "DJANGO_HTTPS": "false",
                    "DJANGO_HSTS_SECONDS": "0",
                    "DJANGOSTACK_RELEASE": release,
                }
            ),
            encoding="utf-8",
        )
        run(
            [str(python), str(work / "runtime" / "release_runtime.py"), "manage", "collectstatic",
             "--noinput", "--verbosity", "0"],
            cwd=src,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
        environment.unlink()
        (work / "static").mkdir(exist_ok=True)

        with tarfile.open(work / "release.tar.gz", "w:gz") as archive:
            for name in ("src", "runtime", "wheels", "requirements.txt", "static"):
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
    parser.add_argument("--python-version", required=True, help="the hosts' Python, e.g. 3.11.2")
    parser.add_argument("--platform", action="append", required=True, help="a wheel platform tag")
    parser.add_argument("--exclude", action="append", default=[], help="a path-part pattern")
    parser.add_argument(
        "--settings-module", required=True, help="the project's production settings module"
    )
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
    except LockMisfit as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
