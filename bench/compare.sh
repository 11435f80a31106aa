#!/usr/bin/env bash
# Runs the same scenarios against missive-server and Synapse on this
# machine, one after the other in one run, and writes bench/results/*.jsonl
# plus a Markdown table to stdout (paste it into BENCHMARKS.md, `make bench`
# does). Servers listen on loopback only; every scenario is bounded.
#
#   bench/compare.sh [targets...]     targets: missive-sqlite missive-postgres synapse-sqlite synapse-postgres
#   BENCH_SCALE=small|full            full = the issue's sizes (slow on Synapse)
#   MISSIVE_BIN=path                  a missive-server binary other than this tree's
#   BENCH_ONLY="send latency initial-sync accounts idle idle-traffic fanout big-room create-rooms search"
#                                     a subset of the scenarios
#   SYNAPSE_BCRYPT_ROUNDS=n           Synapse's password hashing cost (its default 12
#                                     registers ~4 users/s: filling a 10,000-member
#                                     room alone takes 40 min; lower it for big-room
#                                     runs only, never for the accounts scenario)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/missive-target}
SYNAPSE_VENV=${SYNAPSE_VENV:-$HOME/.cache/synapse-venv}
TARGETS=("${@:-missive-sqlite synapse-sqlite}")
read -r -a TARGETS <<<"${TARGETS[*]}"
SCALE=${BENCH_SCALE:-small}
if [ "$SCALE" = full ]; then
  SEND_MSGS=200; IS_ROOMS=200; IS_MSGS=50; ACCT=50; IDLE_USERS=50; FAN_MEMBERS=1000; FAN_SYNCING=200; BIG_ROOM=10000; SEARCH_MSGS=100000
else
  SEND_MSGS=50; IS_ROOMS=50; IS_MSGS=10; ACCT=20; IDLE_USERS=10; FAN_MEMBERS=200; FAN_SYNCING=50; BIG_ROOM=1000; SEARCH_MSGS=10000
fi
# Each scenario is killed (and reported FAILED) after this many seconds.
TIMEOUT=${BENCH_TIMEOUT:-$([ "$SCALE" = full ] && echo 2400 || echo 900)}
# Every held long-poll is a socket on each side: 5,000 of them need more
# descriptors than the usual default of 1,024.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
OUT=$ROOT/bench/results
mkdir -p "$OUT"

(cd "$ROOT" && cargo build --release -q -p missive-server -p missive-bench)
# MISSIVE_BIN=path: measure another missive-server build (an older commit,
# for before/after figures) with the same load generator.
MISSIVE=${MISSIVE_BIN:-$CARGO_TARGET_DIR/release/missive-server}
BENCH=$CARGO_TARGET_DIR/release/missive-bench
# Synapse and every dependency pinned by interop/synapse/requirements.txt,
# the same venv the federation interoperability tests use.
SYNAPSE_VENV=$SYNAPSE_VENV "$ROOT/scripts/synapse-venv.sh"

# BENCH_ONLY="send initial-sync": run only these scenarios (default: all).
only() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
TICKS=$(getconf CLK_TCK)

start_target() { # target workdir port -> sets PID and DB (the PostgreSQL database, if any)
  local target=$1 dir=$2 port=$3 db=""
  case $target in
    *-postgres)
      db="bench_$(echo "$target" | tr - _)_$$"
      psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" ;;
  esac
  case $target in
    missive-*)
      MISSIVE_LISTEN=127.0.0.1:$port MISSIVE_DATA_DIR=$dir MISSIVE_REGISTRATION=open MISSIVE_RATE_LIMITS=off \
        MISSIVE_DATABASE_URL=${db:+postgres://postgres@127.0.0.1:5432/$db} MISSIVE_LOG=warn \
        "$MISSIVE" >"$dir/server.log" 2>&1 &
      PID=$! ;;
    synapse-*)
      "$SYNAPSE_VENV/bin/python" -m synapse.app.homeserver --server-name localhost --config-path "$dir/homeserver.yaml" \
        --generate-config --report-stats=no --data-directory "$dir" >/dev/null
      "$SYNAPSE_VENV/bin/python" - "$dir/homeserver.yaml" "$port" "$dir" "$db" <<'PY'
import os, sys, yaml
path, port, data, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = yaml.safe_load(open(path))
c["listeners"] = [{"port": port, "type": "http", "bind_addresses": ["127.0.0.1"], "tls": False,
                   "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}]
c["database"] = ({"name": "psycopg2", "args": {"user": "postgres", "host": "127.0.0.1", "database": db, "cp_min": 5, "cp_max": 10}}
                 if db else {"name": "sqlite3", "args": {"database": f"{data}/homeserver.db"}})
c["enable_registration"] = True
c["enable_registration_without_verification"] = True
c["trusted_key_servers"] = []
c["suppress_key_server_warning"] = True
c["report_stats"] = False
lifted = {"per_second": 100000, "burst_count": 100000}
for k in ["rc_message", "rc_registration", "rc_joins", "rc_invites", "rc_3pid_validation", "rc_admin_redaction", "rc_room_creation", "rc_joins_per_room"]:
    c[k] = {"local": lifted, "remote": lifted, "per_room": lifted, "per_user": lifted, "per_issuer": lifted} if k in ("rc_joins", "rc_invites") else lifted
c["rc_login"] = {"address": lifted, "account": lifted, "failed_attempts": lifted}
c["log_config"] = None
c["bcrypt_rounds"] = int(os.environ.get("SYNAPSE_BCRYPT_ROUNDS", "12"))
yaml.safe_dump(c, open(path, "w"))
PY
      "$SYNAPSE_VENV/bin/python" -m synapse.app.homeserver --config-path "$dir/homeserver.yaml" >"$dir/server.log" 2>&1 &
      PID=$! ;;
  esac
  DB=$db
}

echo "| target | scenario | throughput | p50 ms | p95 ms | p99 ms | server CPU s | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for target in "${TARGETS[@]}"; do
  dir=$(mktemp -d "/tmp/bench-$target.XXXXXX")
  port=$(free_port)
  t0=$(date +%s.%N)
  start_target "$target" "$dir" "$port"
  trap 'kill $PID 2>/dev/null || true' EXIT
  for _ in $(seq 600); do curl -fsS -o /dev/null "http://127.0.0.1:$port/_matrix/client/versions" 2>/dev/null && break; sleep 0.1; done
  startup=$(python3 -c "import time; print(round(time.time() - $t0, 2))")
  sleep 2
  idle=$(rss_kib "$PID")
  echo "| $target | startup | ${startup} s to first answer | | | | | idle $((idle / 1024)) |"
  run() { # label, bench args...
    local label=$1; shift
    local before after result
    before=$(cpu_ticks "$PID")
    result=$(timeout "$TIMEOUT" "$BENCH" --url "http://127.0.0.1:$port" --prefix "b$RANDOM" "$@") || result='{"error":"failed"}'
    after=$(cpu_ticks "$PID")
    echo "{\"target\":\"$target\",\"label\":\"$label\",\"cpu_s\":$(( (after - before) / TICKS )),\"result\":$result}" >>"$OUT/$target.jsonl"
    python3 - "$target" "$label" "$result" "$(( (after - before) ))" "$TICKS" "$(hwm_kib "$PID")" <<'PY'
import json, sys
target, label, result, ticks, hz, hwm = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
cpu = round(ticks / hz, 1)
def row(thr, lat):
    lat = lat or {}
    print(f"| {target} | {label} | {thr} | {lat.get('p50','')} | {lat.get('p95','')} | {lat.get('p99','')} | {cpu} | {hwm // 1024} |")
if "error" in result: row("FAILED", None)
elif result["scenario"] == "send": row(f"{result['throughput_per_s']:.0f} msg/s", result["latency_ms"])
elif result["scenario"] == "latency":
    idle = f", {result['idle_syncs']} idle syncs held" if result.get("idle_syncs") else ""
    row(f"{result['rate_per_s']} msg/s offered{idle}", result["delivery_ms"])
elif result["scenario"] == "initial_sync":
    row("initial sync", result["initial_sync_ms"]); row("incremental sync", result["incremental_sync_ms"])
elif result["scenario"] == "idle":
    print(f"| {target} | {label} | {result['syncs']} syncs held {result['hold_s']} s | | | | {result['cpu_s_while_held']} | {result['rss_mib_while_held']} (before {result['rss_mib_before']}) |")
elif result["scenario"] == "accounts":
    row(f"{result['registrations_per_s']:.1f} reg/s", result["register_ms"]); row(f"{result['logins_per_s']:.1f} login/s", result["login_ms"])
elif result["scenario"] == "fanout":
    row(f"{result['deliveries_per_s']:.0f} deliveries/s (delivery)", result["delivery_ms"]); row(f"{result['rate_per_s']} msg/s offered (send)", result["send_ms"])
elif result["scenario"] == "big_room":
    row(f"{result['fill_joins_per_s']:.1f} joins/s filling (then join)", result["join_ms"])
elif result["scenario"] == "create_rooms":
    row(f"{result['rooms_per_s']:.1f} rooms/s", result["create_ms"])
elif result["scenario"] == "search":
    row(f"{result['fill_messages_per_s']:.0f} msg/s filling (all searches)", result["search_ms"])
    for q in result["queries"]:
        row(f"{q['order']}: {q['query']} \"{q['term']}\" ({q['count']} found)", q["latency_ms"])
PY
  }
  only send && run "send x1" send --clients 1 --messages "$SEND_MSGS"
  only send && run "send x16" send --clients 16 --messages "$SEND_MSGS"
  only send && run "send x64" send --clients 64 --messages "$SEND_MSGS"
  only latency && run "delivery latency" latency --rate 20 --messages 100
  # 1,000 messages/s offered (open loop) over 20 rooms, 3 s of load.
  only latency && run "delivery latency 1000/s" latency --rate 1000 --messages 3000 --rooms 20
  only initial-sync && run "sync ${IS_ROOMS}x${IS_MSGS}" initial-sync --rooms "$IS_ROOMS" --messages "$IS_MSGS"
  only accounts && run "accounts" accounts --users "$ACCT"
  only idle && run "idle syncs" idle --users "$IDLE_USERS" --per-user 100 --hold-secs 20 --server-pid "$PID"
  # The same idle syncs (users in no room) held while 100 msg/s flow into
  # 5 other rooms, 15 s of load: none of it concerns the idle users.
  only idle-traffic && run "delivery with idle syncs" latency --rate 100 --messages 1500 --rooms 5 --idle-users "$IDLE_USERS"
  # One room, one sender at 10 msg/s, part of the members long-polling.
  only fanout && run "fan-out ${FAN_MEMBERS}/${FAN_SYNCING}" fanout --members "$FAN_MEMBERS" --syncing "$FAN_SYNCING" --messages 50 --rate 10
  only create-rooms && run "create rooms 8x10" create-rooms --clients 8 --rooms 10
  # Search over $SEARCH_MSGS messages in 10 rooms, 20 timed queries of each kind.
  # On PostgreSQL, ANALYZE once filled (both servers): this machine's
  # PostgreSQL has autovacuum off, and fresh tables without statistics
  # get plans no production server (autovacuum on) would run.
  analyze=()
  [ -z "$DB" ] || analyze=(--after-fill "psql -X -q -h 127.0.0.1 -U postgres -d $DB -c ANALYZE")
  only search && run "search ${SEARCH_MSGS}" search --rooms 10 --messages "$SEARCH_MSGS" --queries 20 "${analyze[@]}"
  # Last: filling the room takes longest (a registration and a join each).
  only big-room && run "join ${BIG_ROOM}-member room" big-room --members "$BIG_ROOM" --joins 20
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  rm -rf "$dir"
done
