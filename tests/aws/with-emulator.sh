#!/usr/bin/env bash
# Runs a command with the AWS API emulator (moto's server, from the project venv, with atomic
# request handling: see emulator.py) on a free loopback port, and stops the emulator afterwards
# even when the command fails.
#   tests/aws/with-emulator.sh cargo test -p tailwatch-aws-e2e
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="$root/.venv/bin/python"
[ -x "$root/.venv/bin/moto_server" ] || { echo "moto missing: run 'make setup' first" >&2; exit 2; }
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
log="$(mktemp -t moto.XXXXXX.log)"
"$python" "$root/tests/aws/emulator.py" 127.0.0.1 "$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "moto_server exited:" >&2; cat "$log" >&2; exit 2; }
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
"$@"
