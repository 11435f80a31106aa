#!/usr/bin/env bash
# Drops databases left by earlier test runs (conformance and integration
# tests create one per test and cannot always drop it themselves).
set -euo pipefail
PSQL=(psql -X -q -h 127.0.0.1 -U postgres -d postgres -At)
for db in $("${PSQL[@]}" -c "SELECT datname FROM pg_database WHERE datname LIKE 'missive\_conf\_%' OR datname LIKE 'missive\_it\_%'"); do
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
done
