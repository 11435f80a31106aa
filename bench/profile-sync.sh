#!/usr/bin/env bash
# Instruction counts of the sync and send paths, for comparing two builds on
# a busy machine (callgrind counts instructions, not seconds):
#
#   bench/profile-sync.sh [missive-server binary] [rounds]
#
# Prints the instructions of each phase of bench/profile/sync_workload.py
# and leaves the callgrind files in $OUT (callgrind_annotate reads them).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/missive-target}/release/missive-server}
ROUNDS=${2:-100}
OUT=${OUT:-$(mktemp -d /tmp/missive-profile.XXXXXX)}
command -v valgrind >/dev/null || { echo "profile-sync.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
MISSIVE_LISTEN=127.0.0.1:$port MISSIVE_DATA_DIR=$data MISSIVE_REGISTRATION=open MISSIVE_RATE_LIMITS=off \
  MISSIVE_SERVER_NAME=localhost MISSIVE_LOG=warn MISSIVE_PRESENCE=off \
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BIN" >"$OUT/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 600); do curl -fsS -o /dev/null "http://127.0.0.1:$port/_matrix/client/versions" 2>/dev/null && break; sleep 0.5; done
CG_PID=$pid python3 "$ROOT/bench/profile/sync_workload.py" "http://127.0.0.1:$port" "$ROUNDS"
kill -INT $pid; wait $pid || true
for f in "$OUT"/callgrind.out.*; do
  printf '%-10s %s\n' "$(awk '/^desc: Trigger: dump/ {print $4}' "$f")" "$(awk '/^summary:/ {print $2}' "$f")"
done
echo "callgrind files: $OUT"
