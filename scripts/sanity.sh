#!/usr/bin/env bash
# `ansible-test sanity` on the collection's plugins (modules, module_utils, filters, doc
# fragments): validate-modules, pylint, pep8, import, compile, ansible-doc, yamllint of the
# embedded docs, runtime-metadata and the code-smell checks. Exit status non-zero on failure.
#
# Two things stand between ansible-test and this repository, and this script works around both:
#  1. ansible-test finds the collection from the REAL path of the working directory, which
#     must end in ansible_collections/<namespace>/<name>. The repository is the collection
#     root under any name, and the committed symlink collections/ansible_collections/... does
#     not help (getcwd() resolves it). So the files are copied into a temporary
#     .../ansible_collections/djangostack/deploy and ansible-test runs there.
#  2. ansible-test runs every sanity test in a virtualenv of its own, created empty and
#     bootstrapped with a get-pip script downloaded from ci-files.testing.ansible.com, which
#     this machine cannot reach; and it runs pip with a scrubbed environment (PATH, HOME and
#     the locale only), so PIP_CERT, PIP_INDEX_URL and proxies are lost. ansible-test reads
#     the bootstrap script from its cache (~/.ansible/test/cache/get_pip_<version>.py) when it
#     is there, as its own error message suggests: we put a stand-in there that installs pip
#     with the project's pip, and that gives each sanity virtualenv a pip.conf carrying the
#     caller's PIP_* settings. Everything else (the exact requirement pins of each test)
#     stays ansible-test's own. ansible-test runs with HOME pointing to a cache directory of
#     ours, so the stand-in and the sanity virtualenvs never mix with a real ~/.ansible.
#
# The first run creates the sanity virtualenvs from PyPI (35 s measured); later runs reuse
# them (8 s). Remove $SANITY_HOME to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export LANG=C.UTF-8
export PATH="$ROOT/.venv/bin:$PATH"
PYTHON_VERSION=${SANITY_PYTHON:-3.11}
SANITY_HOME=${SANITY_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/djangostack-sanity}
# What ansible-test checks: the plugins, plus the collection metadata it reads (galaxy.yml,
# meta/runtime.yml) and the sanity ignore files. Roles, playbooks, tests and tooling have their
# own linters (ansible-lint, yamllint, ruff) in the lint phase.
PATHS=(galaxy.yml meta plugins tests/sanity)

say() { printf '==> sanity: %s\n' "$*"; }

command -v ansible-test >/dev/null || { echo "sanity: no ansible-test in $ROOT/.venv: run make setup" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/djangostack-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/djangostack/deploy
mkdir -p "$dest"

# Tracked files and new, not yet committed ones (but not ignored ones: no __pycache__), as
# they are in the working tree. Outside a git checkout (an unpacked tarball) every file.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  list_files() { git ls-files -z --cached --others --exclude-standard -- "${PATHS[@]}"; }
else
  list_files() { find "${PATHS[@]}" -type f ! -path '*/__pycache__/*' -print0 2>/dev/null || true; }
fi
count=0
while IFS= read -r -d '' file; do
  [ -f "$file" ] || continue # deleted in the working tree, not yet in the index
  mkdir -p "$dest/$(dirname "$file")"
  cp -p "$file" "$dest/$file"
  count=$((count + 1))
done < <(list_files)
say "copied $count files (${PATHS[*]}) to $dest"

# The bootstrap stand-in (see 2. above). ansible-test names the script after the pip version
# it bootstraps (24.2 in ansible-test 2.19).
pip_version=$(python -c '
from ansible_test._internal.host_configs import NativePythonConfig
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(NativePythonConfig(version="'"$PYTHON_VERSION"'", path=""))["pip"])') \
  || { echo "sanity: cannot tell which pip ansible-test bootstraps (ansible-test internals changed?)" >&2; exit 1; }
mkdir -p "$SANITY_HOME/.ansible/test/cache"
# pip's user-level config lives under HOME: carry the caller's over to the substitute HOME.
for conf in .config/pip/pip.conf .pip/pip.conf; do
  if [ -f "$HOME/$conf" ] && [ "$HOME" != "$SANITY_HOME" ]; then
    mkdir -p "$(dirname "$SANITY_HOME/$conf")"
    cp "$HOME/$conf" "$SANITY_HOME/$conf"
  fi
done
standin="$SANITY_HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
# The caller's PIP_* variables (and https proxy) as a pip.conf, for the scrubbed pip runs;
# and the stand-in script, which copies it into the new virtualenv.
SANITY_STANDIN=$standin SANITY_PIP_VERSION=$pip_version SANITY_PIP_CONF="$SANITY_HOME/pip.conf" SANITY_HOST_PYTHON="$ROOT/.venv/bin/python" python - <<'EOF'
import os

lines = ["[global]"]
for name, value in sorted(os.environ.items()):
    if name.startswith("PIP_") and name not in ("PIP_CONFIG_FILE", "PIP_BREAK_SYSTEM_PACKAGES"):
        lines.append(f"{name[4:].lower().replace('_', '-')} = {value}")
proxy = os.environ.get("https_proxy") or os.environ.get("HTTPS_PROXY")
if proxy and "PIP_PROXY" not in os.environ:
    lines.append(f"proxy = {proxy}")
with open(os.environ["SANITY_PIP_CONF"], "w", encoding="utf-8") as conf:
    conf.write("\n".join(lines) + "\n")

with open(os.environ["SANITY_STANDIN"], "w", encoding="utf-8") as script:
    script.write(f'''"""Stand-in for ansible-test's get-pip-{os.environ["SANITY_PIP_VERSION"]}.py, written by djangostack's scripts/sanity.sh.

ansible-test runs it with the python of a new, empty sanity virtualenv, as
python get_pip.py pip==VERSION --disable-pip-version-check --no-setuptools --no-wheel
"""

import shutil
import subprocess
import sys

# Later pip runs in this virtualenv (scrubbed environment) read the caller's settings here.
shutil.copy({os.environ["SANITY_PIP_CONF"]!r}, sys.prefix + "/pip.conf")
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
# The project's pip, recent and configured, installs pip into the virtualenv.
cmd = [{os.environ["SANITY_HOST_PYTHON"]!r}, "-m", "pip", "--python", sys.executable, "install", *args]
sys.exit(subprocess.call(cmd))
''')
EOF
say "pip bootstrap stand-in: $standin"

cd "$dest"
say "ansible-test sanity --python $PYTHON_VERSION (in $dest, HOME=$SANITY_HOME)"
start=$SECONDS
rc=0
# --color no: CI reads the log as text.
HOME=$SANITY_HOME ansible-test sanity --python "$PYTHON_VERSION" --color no "$@" || rc=$?
if [ $rc -eq 0 ]; then
  say "passed in $((SECONDS - start))s"
else
  say "FAILED (exit $rc) in $((SECONDS - start))s"
fi
exit $rc
