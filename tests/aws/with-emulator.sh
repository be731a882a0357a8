#!/usr/bin/env bash
# Runs a command with the AWS API emulators on free loopback ports, and stops them afterwards even
# when the command fails:
# - moto's server (from the project venv, with atomic request handling: see emulator.py) for S3,
#   SQS, SNS, Firehose and Secrets Manager;
# - dynalite (npm, tests/aws/dynalite) for DynamoDB, because it rejects what DynamoDB rejects
#   (duplicate set members, items over 400 KB, expression errors) where moto accepts them.
#   tests/aws/with-emulator.sh cargo test -p tailwatch-aws-e2e
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="$root/.venv/bin/python"
dynalite="$root/tests/aws/dynalite/node_modules/.bin/dynalite"
[ -x "$root/.venv/bin/moto_server" ] || { echo "moto missing: run 'make setup' first" >&2; exit 2; }
[ -x "$dynalite" ] || { echo "dynalite missing: run 'make setup' first" >&2; exit 2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
dport="$(free_port)"
log="$(mktemp -t moto.XXXXXX.log)"
dlog="$(mktemp -t dynalite.XXXXXX.log)"
"$python" "$root/tests/aws/emulator.py" 127.0.0.1 "$port" >"$log" 2>&1 &
pid=$!
# Tables are ACTIVE at once (dynalite otherwise keeps them CREATING for 500 ms).
node "$dynalite" --host 127.0.0.1 --port "$dport" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 >"$dlog" 2>&1 &
dpid=$!
trap 'kill "$pid" "$dpid" 2>/dev/null || true; wait "$pid" "$dpid" 2>/dev/null || true; rm -f "$log" "$dlog"' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "moto_server exited:" >&2; cat "$log" >&2; exit 2; }
  sleep 0.1
done
for _ in $(seq 1 100); do
  # dynalite answers any request (a 400 for this one) once it listens.
  if curl -sS -o /dev/null "http://127.0.0.1:$dport/" 2>/dev/null; then break; fi
  kill -0 "$dpid" 2>/dev/null || { echo "dynalite exited:" >&2; cat "$dlog" >&2; exit 2; }
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dport"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
"$@"
