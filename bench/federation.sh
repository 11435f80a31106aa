#!/usr/bin/env bash
# Federation side by side: two missive-servers federating on loopback, then
# two Synapses (from PyPI, interop/synapse/requirements.txt) the same way,
# one pair after the other in one run, with the same load generator:
#   - messages from users of server 1 to a user of server 2: delivered per
#     second and delivery latency (send on one server → the other server's
#     client's /sync), at 20 msg/s into one room and 200 msg/s over 10 rooms;
#   - a user of server 2 joining rooms of server 1 that hold FED_MEMBERS
#     members each (remote join: make_join + send_join with the room's state).
# Both pairs run on SQLite with IP-literal server names, self-signed TLS and
# loopback allowed, as the federation tests run them. Writes a Markdown
# table to stdout and bench/results/federation-*.jsonl.
#
#   bench/federation.sh [pairs...]     pairs: missive synapse (default both)
#   FED_MEMBERS=n                      members of the joined rooms (default 1000)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/missive-target}
SYNAPSE_VENV=${SYNAPSE_VENV:-$HOME/.cache/synapse-venv}
PAIRS=("${@:-missive synapse}")
read -r -a PAIRS <<<"${PAIRS[*]}"
MEMBERS=${FED_MEMBERS:-1000}
TIMEOUT=${BENCH_TIMEOUT:-1800}
OUT=$ROOT/bench/results
mkdir -p "$OUT"

(cd "$ROOT" && cargo build --release -q -p missive-server -p missive-bench)
MISSIVE=${MISSIVE_BIN:-$CARGO_TARGET_DIR/release/missive-server}
BENCH=$CARGO_TARGET_DIR/release/missive-bench
SYNAPSE_VENV=$SYNAPSE_VENV "$ROOT/scripts/synapse-venv.sh"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

start_server() { # pair workdir client_port federation_port -> appends to PIDS
  local pair=$1 dir=$2 port=$3 fed=$4
  case $pair in
    missive)
      MISSIVE_SERVER_NAME=127.0.0.1:$fed MISSIVE_LISTEN=127.0.0.1:$port MISSIVE_FEDERATION_LISTEN=127.0.0.1:$fed \
        MISSIVE_FEDERATION_VERIFY_TLS=off MISSIVE_FEDERATION_IP_ALLOWLIST=127.0.0.0/8 \
        MISSIVE_DATA_DIR=$dir MISSIVE_REGISTRATION=open MISSIVE_RATE_LIMITS=off MISSIVE_LOG=warn \
        "$MISSIVE" >"$dir/server.log" 2>&1 &
      PIDS+=($!) ;;
    synapse)
      "$SYNAPSE_VENV/bin/python" -m synapse.app.homeserver --server-name "127.0.0.1:$fed" \
        --config-path "$dir/homeserver.yaml" --generate-config --report-stats=no --data-directory "$dir" >/dev/null
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
        -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
      "$SYNAPSE_VENV/bin/python" "$ROOT/interop/synapse/configure.py" "$dir/homeserver.yaml" "$port" "$fed" \
        "$dir" "$dir/tls.crt" "$dir/tls.key"
      (cd "$dir" && exec "$SYNAPSE_VENV/bin/python" -m synapse.app.homeserver --config-path "$dir/homeserver.yaml" \
        >"$dir/server.log" 2>&1) &
      PIDS+=($!) ;;
  esac
  for _ in $(seq 1200); do curl -fsS -o /dev/null "http://127.0.0.1:$port/_matrix/client/versions" 2>/dev/null && return; sleep 0.1; done
  echo "federation.sh: $pair on port $port did not start" >&2
  exit 1
}

echo "| pair | scenario | throughput | p50 ms | p95 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
for pair in "${PAIRS[@]}"; do
  PIDS=()
  one=$(mktemp -d "/tmp/bench-fed-$pair-1.XXXXXX")
  two=$(mktemp -d "/tmp/bench-fed-$pair-2.XXXXXX")
  p1=$(free_port); f1=$(free_port); p2=$(free_port); f2=$(free_port)
  start_server "$pair" "$one" "$p1" "$f1"
  start_server "$pair" "$two" "$p2" "$f2"
  run() { # label scenario args...
    local label=$1 result; shift
    result=$(timeout "$TIMEOUT" "$BENCH" --url "http://127.0.0.1:$p1" --prefix "f$RANDOM" "$@" \
      --remote-url "http://127.0.0.1:$p2") || result='{"error":"failed"}'
    echo "{\"pair\":\"$pair\",\"label\":\"$label\",\"result\":$result}" >>"$OUT/federation-$pair.jsonl"
    python3 - "$pair" "$label" "$result" <<'PY'
import json, sys
pair, label, result = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def row(thr, lat):
    lat = lat or {}
    print(f"| {pair} | {label} | {thr} | {lat.get('p50','')} | {lat.get('p95','')} | {lat.get('p99','')} |")
if "error" in result: row("FAILED", None)
elif result["scenario"] == "federated_latency":
    row(f"{result['delivered_per_s']:.0f} msg/s delivered ({result['rate_per_s']} offered)", result["delivery_ms"])
elif result["scenario"] == "remote_join":
    row(f"{result['rooms']} remote joins of {result['members']}-member rooms", result["join_ms"])
PY
  }
  run "cross-server delivery 20/s" federated-latency --rate 20 --messages 200
  run "cross-server delivery 200/s, 10 rooms" federated-latency --rate 200 --messages 2000 --rooms 10
  run "remote join" remote-join --members "$MEMBERS" --rooms 3
  kill "${PIDS[@]}" 2>/dev/null || true
  wait "${PIDS[@]}" 2>/dev/null || true
  rm -rf "$one" "$two"
done
