#!/usr/bin/env bash
# ansible-test on the collection, where ansible-test expects it: the checkout holds it in
# ansible_collections/djangostack/deploy, and ansible-test runs there, on the files as they
# are (it reads git's file list, so new files must be added to git first).
#   scripts/ansible_test.sh sanity    validate-modules, pylint, pep8, import, compile,
#                                     ansible-doc, the embedded docs' YAML, runtime metadata
#   scripts/ansible_test.sh units     tests/unit (the plugins, the scripts roles install)
# Further arguments go to ansible-test. Exit status non-zero on failure.
#
# ansible-test runs each test in a virtualenv of its own, created empty and bootstrapped with
# a get-pip script downloaded from ci-files.testing.ansible.com, which this machine cannot
# reach; and it runs pip with a scrubbed environment (PATH, HOME and the locale only), so
# PIP_CERT, PIP_INDEX_URL and proxies are lost. ansible-test reads the bootstrap script from
# its cache (~/.ansible/test/cache/get_pip_<version>.py) when it is there, as its own error
# message suggests: we put a stand-in there that installs pip with the project's pip, and
# that gives each virtualenv a pip.conf carrying the caller's PIP_* settings. Everything
# else (the exact requirement pins of each test) stays ansible-test's own. ansible-test runs
# with HOME pointing to a cache directory of ours, so the stand-in and the virtualenvs never
# mix with a real ~/.ansible.
#
# The first run creates the virtualenvs from PyPI (35 s measured for sanity); later runs
# reuse them (8 s). Remove $ANSIBLE_TEST_HOME to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COLLECTION=$ROOT/ansible_collections/djangostack/deploy
command=${1:-}
case $command in
  sanity | units) shift ;;
  *) echo "usage: $0 sanity|units [ansible-test arguments]" >&2; exit 2 ;;
esac
export LANG=C.UTF-8
export PATH="$ROOT/.venv/bin:$PATH"
PYTHON_VERSION=${ANSIBLE_TEST_PYTHON:-3.11}
ANSIBLE_TEST_HOME=${ANSIBLE_TEST_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/djangostack-ansible-test}
say() { printf '==> ansible-test %s: %s\n' "$command" "$*"; }

command -v ansible-test >/dev/null || { echo "ansible_test.sh: no ansible-test in $ROOT/.venv: run make setup" >&2; exit 1; }

# The bootstrap stand-in (see 2. above). ansible-test names the script after the pip version
# it bootstraps (24.2 in ansible-test 2.19).
pip_version=$(python -c '
from ansible_test._internal.host_configs import NativePythonConfig
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(NativePythonConfig(version="'"$PYTHON_VERSION"'", path=""))["pip"])') \
  || { echo "ansible_test.sh: cannot tell which pip ansible-test bootstraps (ansible-test internals changed?)" >&2; exit 1; }
mkdir -p "$ANSIBLE_TEST_HOME/.ansible/test/cache"
# pip's user-level config lives under HOME: carry the caller's over to the substitute HOME.
for conf in .config/pip/pip.conf .pip/pip.conf; do
  if [ -f "$HOME/$conf" ] && [ "$HOME" != "$ANSIBLE_TEST_HOME" ]; then
    mkdir -p "$(dirname "$ANSIBLE_TEST_HOME/$conf")"
    cp "$HOME/$conf" "$ANSIBLE_TEST_HOME/$conf"
  fi
done
standin="$ANSIBLE_TEST_HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
# The caller's PIP_* variables (and https proxy) as a pip.conf, for the scrubbed pip runs;
# and the stand-in script, which copies it into the new virtualenv.
STANDIN=$standin STANDIN_PIP_VERSION=$pip_version STANDIN_PIP_CONF="$ANSIBLE_TEST_HOME/pip.conf" STANDIN_HOST_PYTHON="$ROOT/.venv/bin/python" python - <<'EOF'
import os

lines = ["[global]"]
for name, value in sorted(os.environ.items()):
    if name.startswith("PIP_") and name not in ("PIP_CONFIG_FILE", "PIP_BREAK_SYSTEM_PACKAGES"):
        lines.append(f"{name[4:].lower().replace('_', '-')} = {value}")
proxy = os.environ.get("https_proxy") or os.environ.get("HTTPS_PROXY")
if proxy and "PIP_PROXY" not in os.environ:
    lines.append(f"proxy = {proxy}")
with open(os.environ["STANDIN_PIP_CONF"], "w", encoding="utf-8") as conf:
    conf.write("\n".join(lines) + "\n")

with open(os.environ["STANDIN"], "w", encoding="utf-8") as script:
    script.write(f'''"""Stand-in for ansible-test's get-pip-{os.environ["STANDIN_PIP_VERSION"]}.py, written by djangostack's scripts/ansible_test.sh.

ansible-test runs it with the python of a new, empty sanity virtualenv, as
python get_pip.py pip==VERSION --disable-pip-version-check --no-setuptools --no-wheel
"""

import shutil
import subprocess
import sys

# Later pip runs in this virtualenv (scrubbed environment) read the caller's settings here.
shutil.copy({os.environ["STANDIN_PIP_CONF"]!r}, sys.prefix + "/pip.conf")
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
# The project's pip, recent and configured, installs pip into the virtualenv.
cmd = [{os.environ["STANDIN_HOST_PYTHON"]!r}, "-m", "pip", "--python", sys.executable, "install", *args]
sys.exit(subprocess.call(cmd))
''')
EOF
say "pip bootstrap stand-in: $standin"

cd "$COLLECTION"
say "--python $PYTHON_VERSION (in $COLLECTION, HOME=$ANSIBLE_TEST_HOME)"
start=$SECONDS
rc=0
# --color no: CI reads the log as text.
HOME=$ANSIBLE_TEST_HOME ansible-test "$command" --venv --python "$PYTHON_VERSION" --color no "$@" || rc=$?
if [ $rc -eq 0 ]; then
  say "passed in $((SECONDS - start))s"
else
  say "FAILED (exit $rc) in $((SECONDS - start))s"
fi
exit $rc
