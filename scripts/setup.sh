#!/usr/bin/env bash
# Prepare this machine for the lab and the test suite. Idempotent: every step checks
# before it acts, so a second run changes nothing and takes seconds.
#   1. Debian packages the controller needs (docker.io when no engine answers, debootstrap)
#   2. the Docker engine, started and answering
#   3. .venv with the Python dependencies of pyproject.toml
#   4. the lab base image (Debian 12 + systemd + python3), built from debootstrap
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LAB_IMAGE=${LAB_IMAGE:-djangostack/lab-base:bookworm}
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
STEP=""

step_start=$SECONDS
say()  { printf '==> %s (%ss)\n' "$*" $((SECONDS - step_start)); step_start=$SECONDS; }
failed_cleanly=0
fail() { printf 'setup: step "%s" failed: %s\n' "$STEP" "$*" >&2; failed_cleanly=1; exit 1; }
# Any other failure (set -e) still names the step.
trap 'rc=$?; [ $rc -eq 0 ] || [ $failed_cleanly -eq 1 ] || printf "setup: step \"%s\" failed (exit %s): fix the error above and run make setup again.\n" "$STEP" "$rc" >&2' EXIT

need_root() {
  [ "$(id -u)" -eq 0 ] || fail "$1 needs root: run make setup as root (or with sudo)"
}

apt_updated=0
# As the lab's image sets for its hosts (lab/image/Dockerfile): a lookup or download that
# fails is tried again with growing waits, and a stalled one is given up after 30 s.
APT_PATIENCE=(-o Acquire::Retries=8 -o Acquire::http::Timeout=30)
apt_install() {
  need_root "installing $*"
  if [ $apt_updated -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_PATIENCE[@]}" update -qq || fail "apt-get update could not reach the Debian mirror"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get "${APT_PATIENCE[@]}" install -y -qq --no-install-recommends "$@" >/dev/null \
    || fail "apt-get install $* failed"
}

STEP="debian packages"
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
# make capacity's load generator (C, so the stack's limit is measured, not the generator's).
command -v wrk >/dev/null || missing+=(wrk)
# The stack tests' scan of the front door's TLS (protocols, ciphers, certificate).
command -v sslscan >/dev/null || missing+=(sslscan)
# The docker client alone is not enough: install Debian's engine when nothing answers
# and no dockerd is on the machine.
if ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null; then
  missing+=(docker.io)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "Installing Debian packages: ${missing[*]}"
  apt_install "${missing[@]}"
else
  say "Debian packages present"
fi

STEP="docker engine"
if docker info >/dev/null 2>&1; then
  say "Docker engine answers"
else
  need_root "starting dockerd"
  say "Starting dockerd (log: /var/log/dockerd.log)"
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || fail "dockerd did not answer within 60 s: read /var/log/dockerd.log"
  say "Docker engine started"
fi

STEP="python virtualenv"
# The stamp holds a hash of pyproject.toml: the dependencies are installed again only
# when the file changes.
stamp="$VENV/.djangostack-deps"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "Python dependencies up to date in $VENV"
else
  say "Installing Python dependencies into $VENV"
  command -v "$PYTHON" >/dev/null || fail "no $PYTHON on PATH: install Python 3.11 or set PYTHON=/path/to/python3"
  # Debian's own python3 needs python3-venv for ensurepip.
  "$PYTHON" -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" || fail "$PYTHON -m venv $VENV failed (see above)"
  log="$VENV/pip-install.log"
  "$VENV/bin/python" -m pip install --upgrade 'pip>=25.1' >"$log" 2>&1 \
    || fail "pip could not upgrade itself from PyPI: read $log"
  # The harness package, editable (harness.REPO is this checkout), and the PEP 735 `dev`
  # group: the linters, Molecule, pytest and the AWS emulator.
  "$VENV/bin/python" -m pip install --group dev --editable . >>"$log" 2>&1 \
    || fail "pip install --group dev --editable . failed: read $log"
  echo "$want" > "$stamp"
fi

STEP="lab base image"
# The image carries the hash of its Dockerfile: a changed Dockerfile means a rebuild, and
# lab/lab.yml then re-creates the containers on the new image.
want_image=$(sha256sum lab/image/Dockerfile | cut -c1-16)
have_image=$(docker image inspect -f '{{ index .Config.Labels "djangostack.dockerfile" }}' "$LAB_IMAGE" 2>/dev/null || true)
if [ "$have_image" = "$want_image" ]; then
  say "Lab base image $LAB_IMAGE up to date"
else
  say "Building lab base image $LAB_IMAGE"
  rootfs_image="${LAB_IMAGE%%:*}-rootfs:bookworm"
  if ! docker image inspect "$rootfs_image" >/dev/null 2>&1; then
    need_root "debootstrap"
    tmp=$(mktemp -d /var/tmp/djangostack-rootfs.XXXXXX)
    # wget, under debootstrap, waits 15 minutes on a stalled download, 20 times over: a
    # mirror that stalls would hold the whole run. Ten minutes at most (it takes about 30 s),
    # then once more from scratch.
    for attempt in 1 2; do
      timeout 600 debootstrap --variant=minbase bookworm "$tmp" http://deb.debian.org/debian >/var/tmp/debootstrap.log 2>&1 \
        && break
      rm -rf "$tmp" && mkdir -p "$tmp"
      [ $attempt = 2 ] && { rm -rf "$tmp"; fail "debootstrap failed twice: read /var/tmp/debootstrap.log"; }
    done
    tar -C "$tmp" -c . | docker import - "$rootfs_image" >/dev/null || { rm -rf "$tmp"; fail "docker import failed"; }
    rm -rf "$tmp"
  fi
  DOCKER_BUILDKIT=0 docker build --build-arg "ROOTFS=$rootfs_image" --label "djangostack.dockerfile=$want_image" \
    -t "$LAB_IMAGE" lab/image >/var/tmp/lab-image-build.log 2>&1 \
    || fail "docker build of lab/image failed: read /var/tmp/lab-image-build.log"
  say "Lab base image $LAB_IMAGE built"
fi

STEP="done"
say "Setup complete"
