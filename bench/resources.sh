#!/usr/bin/env bash
# Peak RSS (VmHWM) of missive-server for 8 and 32 concurrent thumbnail
# requests of distinct sizes for one 36-megapixel PNG, and for 2,000 idle
# keep-alive connections (with whether a new client is still served), each
# on a fresh server started with the common soft open-files limit of 1024.
# Loopback only; every request has a timeout.
# Usage: bench/resources.sh SERVER_BINARY BENCH_BINARY
# (build both with the same profile; BENCHMARKS.md gives the commands).
set -euo pipefail
SERVER=$1
BENCH=$2
# The client holds 2,000 sockets itself.
ulimit -n "$(ulimit -Hn)"

run() { # SCENARIO ARGS...: one fresh server, one scenario
  local work port pid
  work=$(mktemp -d /tmp/missive-resources-bench.XXXXXX)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # The server starts from a shell whose soft limit is 1024, as many do.
  (ulimit -Sn 1024; exec env MISSIVE_LISTEN="127.0.0.1:$port" MISSIVE_DATA_DIR="$work" \
    MISSIVE_REGISTRATION=open MISSIVE_RATE_LIMITS=off MISSIVE_WEB_CLIENT_DIR= MISSIVE_LOG=warn \
    "$SERVER" >"$work/server.log" 2>&1) &
  pid=$!
  for _ in $(seq 300); do curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.1; done
  "$BENCH" --url "http://127.0.0.1:$port" --prefix "r$RANDOM" "$@" --server-pid "$pid" || echo '{"error": "scenario failed"}'
  echo "  open files limit: $(awk '/Max open files/ {print $4 "/" $5}' "/proc/$pid/limits"); server log lines with 'limit' or 'Too many': $(grep -ci 'limit reached\|too many open files' "$work/server.log" || true)"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}

run thumbnails --concurrency 8
run thumbnails --concurrency 32
run connections --count 2000 --hold-secs 5
