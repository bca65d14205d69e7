#!/usr/bin/env bash
# The local AWS API: moto's server on 127.0.0.1 only, for the EC2 tests and the rehearsal
# (docs/ec2.md). Its state lives in memory: stopping it forgets every resource.
#   scripts/aws_emulator.sh start|stop|status|env
# `env` prints the variables that point boto3, the amazon.aws modules and the aws_ec2
# inventory at it, with throwaway credentials (moto accepts any):
#   eval "$(scripts/aws_emulator.sh env)"
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${AWS_EMULATOR_PORT:-5000}
URL="http://127.0.0.1:$PORT"
STATE_DIR=${AWS_EMULATOR_DIR:-/var/tmp/djangostack-aws-emulator}
PIDFILE=$STATE_DIR/moto.pid
LOG=$STATE_DIR/moto.log
# moto's server, with the few fixes harness/aws_emulator.py makes to answer as AWS does.
PYTHON=${AWS_EMULATOR_PYTHON:-$PWD/.venv/bin/python}

answers() { curl -fsS -o /dev/null --max-time 2 "$URL/moto-api/" 2>/dev/null; }
running_pid() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"; }

case ${1:-} in
  start)
    if running_pid >/dev/null && answers; then
      echo "AWS emulator already answers on $URL"; exit 0
    fi
    answers && { echo "aws_emulator: something else answers on $URL: stop it or set AWS_EMULATOR_PORT" >&2; exit 1; }
    mkdir -p "$STATE_DIR"
    setsid "$PYTHON" -m harness.aws_emulator -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 50); do answers && { echo "AWS emulator answers on $URL (log: $LOG)"; exit 0; }; sleep 0.2; done
    echo "aws_emulator: moto did not answer on $URL within 10 s: read $LOG" >&2; exit 1 ;;
  stop)
    if pid=$(running_pid); then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "AWS emulator stopped"
    fi
    rm -f "$PIDFILE" ;;
  status)
    if answers; then echo "AWS emulator answers on $URL"; else echo "AWS emulator is not running"; exit 1; fi ;;
  env)
    cat <<VARS
export AWS_ENDPOINT_URL=$URL
export AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator
export AWS_REGION=\${AWS_REGION:-eu-west-1} AWS_DEFAULT_REGION=\${AWS_REGION:-eu-west-1}
VARS
    ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
