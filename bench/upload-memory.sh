#!/usr/bin/env bash
# Uploads a large file (default 1 GiB, streamed from /dev/urandom with
# chunked encoding) to a fresh missive-server and reports the server's peak
# RSS (VmHWM) before and after: uploads stream to disk, so memory must not
# grow with the file. Usage: bench/upload-memory.sh [SIZE_MIB]
set -euo pipefail
SIZE_MIB=${1:-1024}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/missive-target}
(cd "$ROOT" && cargo build --release -q -p missive-server)
BIN=$CARGO_TARGET_DIR/release/missive-server
WORK=$(mktemp -d /tmp/missive-upload-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MISSIVE_LISTEN=127.0.0.1:$PORT MISSIVE_DATA_DIR=$WORK MISSIVE_REGISTRATION=open MISSIVE_RATE_LIMITS=off \
  MISSIVE_MAX_UPLOAD_BYTES=$(( (SIZE_MIB + 1) * 1024 * 1024 )) MISSIVE_MEDIA_QUOTA_BYTES=0 \
  "$BIN" >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break; sleep 0.1; done
TOKEN=$(curl -fsS -X POST "http://127.0.0.1:$PORT/_matrix/client/v3/register" \
  -d '{"username":"bench","password":"bench-password","auth":{"type":"m.login.dummy"}}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
hwm() { awk '/VmHWM/ {print $2}' "/proc/$PID/status"; }
BEFORE=$(hwm)
START=$(date +%s.%N)
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom \
  | curl -fsS -X POST -T - -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/octet-stream' \
      "http://127.0.0.1:$PORT/_matrix/media/v3/upload?filename=big.bin" >"$WORK/upload.json"
END=$(date +%s.%N)
AFTER=$(hwm)
echo "uploaded ${SIZE_MIB} MiB in $(python3 -c "print(round($END - $START, 1))") s: $(cat "$WORK/upload.json")"
echo "server peak RSS (VmHWM): before ${BEFORE} KiB, after ${AFTER} KiB"
