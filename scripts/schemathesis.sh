#!/usr/bin/env bash
# Fuzzes the Client-Server API with schemathesis and fails on any HTTP 5xx.
#
# Starts the debug server on a free port with a throwaway SQLite data dir,
# seeds it (a user, rooms, an event, an alias, a filter, a key backup) so
# path parameters can hit real objects, then runs schemathesis against the
# operations of the spec that Missive implements, with the single check
# `not_a_server_error`. Run from the repo root: `scripts/schemathesis.sh`;
# extra arguments go to `st run` (e.g. `--seed N`, `--mode positive`).
# Exits non-zero on a 5xx, a server crash, or a run that could not complete.
# Without the spec (../shared beside the clone, or $SPEC) it says so and
# exits 0: a fresh clone alone passes `make test` with this step skipped.
#
# Knobs (environment):
#   SCHEMATHESIS_MAX_EXAMPLES  cases per operation and phase (default 75)
#   SCHEMATHESIS_WORKERS       concurrent workers (default 2)
#   SCHEMATHESIS_TIME_LIMIT    hard bound on the schemathesis run, seconds (default 300)
#   MISSIVE_SERVER_BIN         server binary (default $CARGO_TARGET_DIR/debug/missive-server)
set -euo pipefail

ST_VERSION=4.32.5
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPEC=${SPEC:-$ROOT/../shared/spec/client-server-api.openapi.json}
VENV=${SCHEMATHESIS_VENV:-$HOME/.cache/missive-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/missive-target}
BIN=${MISSIVE_SERVER_BIN:-$CARGO_TARGET_DIR/debug/missive-server}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-75}
WORKERS=${SCHEMATHESIS_WORKERS:-2}
TIME_LIMIT=${SCHEMATHESIS_TIME_LIMIT:-300}

log() { printf 'schemathesis.sh: %s\n' "$*" >&2; }

if [ ! -f "$SPEC" ]; then
  log "SKIPPED: the spec's OpenAPI description is not at $SPEC"
  log "(it comes from ../shared beside the repository; set SPEC=/path/to/client-server-api.openapi.json to run this step)"
  exit 0
fi

# --- schemathesis, pinned, in a reusable venv --------------------------------
if [ "$("$VENV/bin/st" --version 2>/dev/null)" != "st, version $ST_VERSION" ]; then
  log "installing schemathesis $ST_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

# --- the server ---------------------------------------------------------------
if [ ! -x "$BIN" ]; then
  log "building missive-server"
  (cd "$ROOT" && cargo build --quiet -p missive-server)
fi

WORK=$(mktemp -d /tmp/missive-schemathesis.XXXXXX)
SERVER_LOG=$WORK/server.log
SERVER_PID=
STATUS=1
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$STATUS" = 0 ]; then rm -rf "$WORK"; else log "kept logs and reports in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
mkdir -p "$WORK/data"
# The deprecated unauthenticated media endpoints are on, so that their
# handlers are fuzzed too.
cat >"$WORK/missive.toml" <<'EOF_TOML'
[media]
legacy_unauthenticated = true
EOF_TOML
MISSIVE_LISTEN=127.0.0.1:$PORT MISSIVE_DATA_DIR=$WORK/data MISSIVE_DATABASE_URL= \
  MISSIVE_REGISTRATION=open MISSIVE_RATE_LIMITS=off MISSIVE_SERVER_NAME=localhost \
  MISSIVE_LOG_FORMAT=text NO_COLOR=1 RUST_BACKTRACE=0 \
  "$BIN" --config "$WORK/missive.toml" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

for _ in $(seq 100); do
  curl -fsS -o /dev/null "$BASE/health" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited at startup:"; cat "$SERVER_LOG" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "$BASE/health" || { log "server not healthy after 20s"; exit 1; }

# --- seed data ------------------------------------------------------------------
# api METHOD PATH [JSON] [TOKEN]: the JSON response; fails on a non-2xx status.
api() {
  curl -fsS -X "$1" "$BASE$2" -H 'Content-Type: application/json' \
    ${4:+-H "Authorization: Bearer $4"} ${3:+--data "$3"}
}
register() {
  api POST /_matrix/client/v3/register \
    "{\"username\":\"$1\",\"password\":\"st-password-$1\",\"auth\":{\"type\":\"m.login.dummy\"}}"
}
enc() { jq -rn --arg v "$1" '$v|@uri'; }

ME=$(register fuzzer)
TOKEN=$(jq -r .access_token <<<"$ME")
USER_ID=$(jq -r .user_id <<<"$ME")
DEVICE_ID=$(jq -r .device_id <<<"$ME")
OTHER_ID=$(register other | jq -r .user_id)
# A second session of the fuzzer, a device to look at, and a session for
# logout to end (it would end the main one otherwise).
DEVICE2_ID=$(api POST /_matrix/client/v3/login \
  "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"fuzzer\"},\"password\":\"st-password-fuzzer\"}" \
  | jq -r .device_id)
LOGOUT_TOKEN=$(register leaver | jq -r .access_token)

ROOM=$(api POST /_matrix/client/v3/createRoom \
  "{\"name\":\"fuzz\",\"preset\":\"public_chat\",\"room_alias_name\":\"fuzz\",\"invite\":[\"$OTHER_ID\"]}" "$TOKEN" | jq -r .room_id)
ROOM2=$(api POST /_matrix/client/v3/createRoom '{"preset":"private_chat"}' "$TOKEN" | jq -r .room_id)
# Leave, forget, kick, ban and upgrade get rooms of their own, so that the
# others stay joined (and open) for the rest of the run.
SPARE_ROOM=$(api POST /_matrix/client/v3/createRoom \
  "{\"preset\":\"public_chat\",\"invite\":[\"$OTHER_ID\"]}" "$TOKEN" | jq -r .room_id)
SPARE_ROOM2=$(api POST /_matrix/client/v3/createRoom "{\"invite\":[\"$OTHER_ID\"]}" "$TOKEN" | jq -r .room_id)
ALIAS="#fuzz:localhost"
EVENT=$(api PUT "/_matrix/client/v3/rooms/$(enc "$ROOM")/send/m.room.message/seed1" \
  '{"msgtype":"m.text","body":"hello"}' "$TOKEN" | jq -r .event_id)
STATE_EVENT=$(api PUT "/_matrix/client/v3/rooms/$(enc "$ROOM")/state/m.room.topic/" \
  '{"topic":"fuzzing"}' "$TOKEN" | jq -r .event_id)
FILTER=$(api POST "/_matrix/client/v3/user/$(enc "$USER_ID")/filter" \
  '{"room":{"timeline":{"limit":5}}}' "$TOKEN" | jq -r .filter_id)
# Two key backups: the older one for DELETE, the current one for the rest.
new_backup() {
  api POST /_matrix/client/v3/room_keys/version \
    '{"algorithm":"m.megolm_backup.v1.curve25519-aes-sha2","auth_data":{"public_key":"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo","signatures":{}}}' "$TOKEN" \
    | jq -r .version
}
SPARE_BACKUP=$(new_backup)
BACKUP=$(new_backup)
SINCE=$(api GET '/_matrix/client/v3/sync?timeout=0' '' "$TOKEN" | jq -r .next_batch)
PREV=$(api GET "/_matrix/client/v3/rooms/$(enc "$ROOM")/messages?dir=b&limit=1" '' "$TOKEN" | jq -r .end)
# Media: a PNG (for thumbnails), a text file, and reserved IDs for the
# asynchronous upload (PUT /upload/{serverName}/{mediaId}).
upload() {
  curl -fsS -X POST "$BASE/_matrix/media/v3/upload?filename=$2" -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: $3" --data-binary "@$1" | jq -r .content_uri
}
python3 - "$WORK/seed.png" <<'EOF_PY'
import struct, sys, zlib
w, h = 64, 48
rows = b"".join(b"\x00" + bytes(v for x in range(w) for v in (x * 4 % 256, y * 5 % 256, 128)) for y in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
EOF_PY
printf 'hello from the fuzzer\n' >"$WORK/seed.txt"
mxc_id() { sed -E 's#^mxc://[^/]+/##' <<<"$1"; }
PNG_MEDIA=$(mxc_id "$(upload "$WORK/seed.png" seed.png image/png)")
TEXT_MEDIA=$(mxc_id "$(upload "$WORK/seed.txt" seed.txt text/plain)")
pending() { api POST /_matrix/media/v1/create '' "$TOKEN" | jq -r .content_uri; }
PENDING1=$(mxc_id "$(pending)")
PENDING2=$(mxc_id "$(pending)")
log "seeded: user $USER_ID, rooms $ROOM $ROOM2, event $EVENT, filter $FILTER, backup $BACKUP, media $PNG_MEDIA $TEXT_MEDIA"

# --- which operations -------------------------------------------------------------
# Spec paths Missive implements (see crates/missive-server/src/api/mod.rs).
# The rest answers 404 M_UNRECOGNIZED and is not worth the time.
C=/_matrix/client
IMPLEMENTED=(
  "/\\.well-known/matrix/client"
  "$C/versions"
  "$C/v3/capabilities"
  # accounts and sessions
  "$C/v3/register"
  "$C/v3/register/available"
  "$C/v1/register/m\\.login\\.registration_token/validity"
  "$C/v3/login"
  "$C/v3/logout(/all)?"
  "$C/v3/account/(whoami|password|deactivate)"
  "$C/v3/account/3pid(/(add|delete|bind|unbind))?"
  "$C/v3/(register|account/3pid|account/password)/(email|msisdn)/requestToken"
  "$C/v3/user/\\{userId\\}/openid/request_token"
  "$C/v3/admin/whois/\\{userId\\}"
  # devices
  "$C/v3/devices(/\\{deviceId\\})?"
  "$C/v3/delete_devices"
  # profile
  "$C/v3/profile/\\{userId\\}(/\\{keyName\\})?"
  # rooms and membership
  "$C/v3/createRoom"
  "$C/v3/joined_rooms"
  "$C/v3/(join|knock)/\\{roomIdOrAlias\\}"
  "$C/v3/rooms/\\{roomId\\}/(join|invite|leave|kick|ban|unban|forget|upgrade)"
  # events
  "$C/v3/rooms/\\{roomId\\}/send/\\{eventType\\}/\\{txnId\\}"
  "$C/v3/rooms/\\{roomId\\}/state(/\\{eventType\\}/\\{stateKey\\})?"
  "$C/v3/rooms/\\{roomId\\}/redact/\\{eventId\\}/\\{txnId\\}"
  "$C/v3/rooms/\\{roomId\\}/(event|context)/\\{eventId\\}"
  "$C/v3/rooms/\\{roomId\\}/(messages|members|joined_members)"
  "$C/v1/rooms/\\{roomId\\}/relations/\\{eventId\\}(/\\{relType\\}(/\\{eventType\\})?)?"
  "$C/v1/rooms/\\{roomId\\}/(threads|hierarchy|timestamp_to_event)"
  "$C/v3/rooms/\\{roomId\\}/report(/\\{eventId\\})?"
  "$C/v3/search"
  # sync and filters
  "$C/v3/sync"
  "$C/v3/user/\\{userId\\}/filter(/\\{filterId\\})?"
  # ephemeral
  "$C/v3/rooms/\\{roomId\\}/typing/\\{userId\\}"
  "$C/v3/rooms/\\{roomId\\}/receipt/\\{receiptType\\}/\\{eventId\\}"
  "$C/v3/rooms/\\{roomId\\}/read_markers"
  # account data and tags
  "$C/v3/user/\\{userId\\}(/rooms/\\{roomId\\})?/account_data/\\{type\\}"
  "$C/v3/user/\\{userId\\}/rooms/\\{roomId\\}/tags(/\\{tag\\})?"
  # push rules, pushers, notifications
  "$C/v3/pushrules/(global/)?"
  "$C/v3/pushrules/global/\\{kind\\}/\\{ruleId\\}(/actions|/enabled)?"
  "$C/v3/pushers(/set)?"
  "$C/v3/notifications"
  # aliases and directories
  "$C/v3/directory/room/\\{roomAlias\\}"
  "$C/v3/rooms/\\{roomId\\}/aliases"
  "$C/v3/directory/list/room/\\{roomId\\}"
  "$C/v3/publicRooms"
  "$C/v3/user_directory/search"
  # presence and VoIP
  "$C/v3/presence/\\{userId\\}/status"
  "$C/v3/voip/turnServer"
  "$C/v3/thirdparty/(protocols|protocol/\\{protocol\\}|location(/\\{protocol\\})?|user(/\\{protocol\\})?)"
  # end-to-end encryption
  "$C/v3/keys/(upload|query|claim|changes|device_signing/upload|signatures/upload)"
  "$C/v3/sendToDevice/\\{eventType\\}/\\{txnId\\}"
  "$C/v3/room_keys/version(/\\{version\\})?"
  "$C/v3/room_keys/keys(/\\{roomId\\}(/\\{sessionId\\})?)?"
  # media: authenticated, deprecated unauthenticated, uploads
  "$C/v1/media/(config|preview_url)"
  "$C/v1/media/download/\\{serverName\\}/\\{mediaId\\}(/\\{fileName\\})?"
  "$C/v1/media/thumbnail/\\{serverName\\}/\\{mediaId\\}"
  "/_matrix/media/v1/create"
  "/_matrix/media/v3/(config|preview_url|upload)"
  "/_matrix/media/v3/upload/\\{serverName\\}/\\{mediaId\\}"
  "/_matrix/media/v3/download/\\{serverName\\}/\\{mediaId\\}(/\\{fileName\\})?"
  "/_matrix/media/v3/thumbnail/\\{serverName\\}/\\{mediaId\\}"
)
INCLUDE_REGEX="^($(IFS='|'; echo "${IMPLEMENTED[*]}"))\$"

# --- schemathesis config: auth, real values for path parameters --------------------
# Dictionaries feed real identifiers to a share of the generated cases; the
# rest stay random. Leave/forget/kick/ban and logout get sacrificial targets.
q() { jq -cn --arg v "$1" '$v'; }
cat >"$WORK/schemathesis.toml" <<EOF
headers = { Authorization = "Bearer $TOKEN" }

[dictionaries]
rooms = { values = [$(q "$ROOM"), $(q "$ROOM2")] }
spare_rooms = { values = [$(q "$SPARE_ROOM"), $(q "$SPARE_ROOM2")] }
users = { values = [$(q "$USER_ID"), $(q "$USER_ID"), $(q "$OTHER_ID")] }
events = { values = [$(q "$EVENT"), $(q "$STATE_EVENT")] }
rooms_or_aliases = { values = [$(q "$ROOM"), $(q "$ALIAS"), $(q "$SPARE_ROOM")] }
aliases = { values = [$(q "$ALIAS"), "#fresh:localhost"] }
devices = { values = [$(q "$DEVICE_ID"), $(q "$DEVICE2_ID")] }
filters = { values = [$(q "$FILTER")] }
backups = { values = [$(q "$BACKUP")] }
spare_backups = { values = [$(q "$SPARE_BACKUP")] }
uia_types = { values = ["m.login.dummy", "m.login.password"] }
tokens = { values = [$(q "$SINCE"), $(q "$PREV")] }
event_types = { values = ["m.room.message", "m.room.name", "m.room.topic", "m.room.member", "m.room.redaction", "m.reaction", "m.room.encrypted", "m.room.create", "m.room.power_levels"] }
account_data_types = { values = ["m.direct", "m.fully_read", "m.push_rules", "m.tag", "m.ignored_user_list"] }
server_names = { values = ["localhost"] }
media_ids = { values = [$(q "$PNG_MEDIA"), $(q "$TEXT_MEDIA")] }
pending_media_ids = { values = [$(q "$PENDING1"), $(q "$PENDING2")] }
room_versions = { values = ["1", "3", "9", "11", "12"] }
rule_ids = { values = [".m.rule.master", ".m.rule.message", ".m.rule.contains_user_name", "custom"] }

[parameters]
"path.roomId" = { dictionary = "rooms", probability = 0.7 }
"path.userId" = { dictionary = "users", probability = 0.8 }
"path.eventId" = { dictionary = "events", probability = 0.7 }
"path.roomIdOrAlias" = { dictionary = "rooms_or_aliases", probability = 0.6 }
"path.roomAlias" = { dictionary = "aliases", probability = 0.6 }
"path.deviceId" = { dictionary = "devices", probability = 0.6 }
"path.filterId" = { dictionary = "filters", probability = 0.6 }
"path.eventType" = { dictionary = "event_types", probability = 0.5 }
"path.type" = { dictionary = "account_data_types", probability = 0.5 }
"path.ruleId" = { dictionary = "rule_ids", probability = 0.5 }
"path.serverName" = { dictionary = "server_names", probability = 0.8 }
"path.mediaId" = { dictionary = "media_ids", probability = 0.7 }
"version" = { dictionary = "backups", probability = 0.7 }
"query.from" = { dictionary = "tokens", probability = 0.5 }
"query.since" = { dictionary = "tokens", probability = 0.5 }
"body.room_id" = { dictionary = "rooms", probability = 0.5 }
"body.user_id" = { dictionary = "users", probability = 0.5 }
"body.auth.type" = { dictionary = "uia_types", probability = 0.5 }
"body.room_version" = { dictionary = "room_versions", probability = 0.5 }
"body.new_version" = { dictionary = "room_versions", probability = 0.7 }

# A long-polling sync would only wait out the request timeout.
[[operations]]
include-path = "$C/v3/sync"
parameters = { "query.timeout" = 0 }

[[operations]]
include-path-regex = '^$C/v3/rooms/\{roomId\}/(leave|forget|kick|ban|unban|upgrade)\$'
parameters = { "path.roomId" = { dictionary = "spare_rooms", probability = 0.8 } }

[[operations]]
include-path = "$C/v3/room_keys/version/{version}"
include-method = "DELETE"
parameters = { "version" = { dictionary = "spare_backups", probability = 0.8 } }

[[operations]]
include-path = "/_matrix/media/v3/upload/{serverName}/{mediaId}"
parameters = { "path.mediaId" = { dictionary = "pending_media_ids", probability = 0.8 } }

[[operations]]
include-path-regex = '^$C/v3/logout(/all)?\$'
headers = { Authorization = "Bearer $LOGOUT_TOKEN" }
EOF

# --- the run --------------------------------------------------------------------------
ST_ARGS=(
  --url "$BASE"
  --include-path-regex "$INCLUDE_REGEX"
  --checks not_a_server_error
  --max-examples "$MAX_EXAMPLES"
  --workers "$WORKERS"
  --request-timeout 10
  --suppress-health-check all
  --generation-database none
  --no-color
  --report junit --report-dir "$WORK/report"
)

log "running schemathesis $ST_VERSION against $BASE (max $MAX_EXAMPLES examples/operation, ${TIME_LIMIT}s limit)"
START=$(date +%s)
for ATTEMPT in 1 2; do
  ST_RC=0
  (cd "$WORK" && timeout --signal=INT --kill-after=20 "$TIME_LIMIT" \
    "$VENV/bin/st" --config-file "$WORK/schemathesis.toml" run "${ST_ARGS[@]}" "$@" "$SPEC") \
    | tee "$WORK/schemathesis.out" || ST_RC=$?
  # schemathesis (its Python, in fact) sometimes crashes while generating
  # data: a "Runtime Error" with every generated case passed and no server
  # error is the tool's fault, not the server's; such a run is repeated once.
  if [ "$ST_RC" != 0 ] && [ "$ATTEMPT" = 1 ] && grep -q 'Runtime Error' "$WORK/schemathesis.out" \
    && grep -qE '^ *([0-9]+) generated, \1 passed$' "$WORK/schemathesis.out" \
    && ! grep -q 'internal error' "$SERVER_LOG"; then
    log "schemathesis crashed by itself (no failed case, no server error); running it once more"
    continue
  fi
  break
done
ELAPSED=$(($(date +%s) - START))

# --- summary ----------------------------------------------------------------------------
SERVER_ALIVE=yes
kill -0 "$SERVER_PID" 2>/dev/null || SERVER_ALIVE=no
INTERNAL=$(grep -c 'internal error' "$SERVER_LOG" || true)
FAILED_OPS=$(grep -E '^_+ [A-Z]+ /' "$WORK/schemathesis.out" | sed -E 's/^_+ (.*) _+$/\1/' | sort -u || true)
echo
echo "=== schemathesis summary ==="
echo "run time: ${ELAPSED}s; schemathesis exit code: $ST_RC; server still up: $SERVER_ALIVE"
echo "server 'internal error' log lines: $INTERNAL"
if [ "$SERVER_ALIVE" = no ]; then
  echo "the server died during the run; its last log lines:"
  tail -n 20 "$SERVER_LOG" | sed 's/^/  /'
fi
if [ -n "$FAILED_OPS" ]; then
  echo "operations with failures:"
  sed 's/^/  /' <<<"$FAILED_OPS"
fi
if [ "$INTERNAL" != 0 ]; then
  echo "distinct internal errors (server log):"
  grep 'internal error' "$SERVER_LOG" | sed -E 's/.*detail=//' | sort | uniq -c | sort -rn | head -20 | sed 's/^/  /'
fi
if grep -q ' panicked at ' "$SERVER_LOG"; then
  echo "panics caught in the server log (each a 5xx only if counted as an internal error above):"
  grep -A1 ' panicked at ' "$SERVER_LOG" | grep -v '^--$' | sed -E 's/^thread .* panicked at //' \
    | paste - - | sort | uniq -c | sort -rn | head -20 | sed 's/^/  /'
fi

TIMED_OUT=no
if [ "$ST_RC" = 124 ] || [ "$ST_RC" = 137 ]; then
  TIMED_OUT=yes
  echo "note: schemathesis was stopped at the ${TIME_LIMIT}s limit; the cases it ran are judged"
fi
if { [ "$ST_RC" = 0 ] || [ "$TIMED_OUT" = yes ]; } && [ -z "$FAILED_OPS" ] \
  && [ "$INTERNAL" = 0 ] && [ "$SERVER_ALIVE" = yes ]; then
  echo "result: no server errors"
  STATUS=0
else
  echo "result: FAILED (server errors, or schemathesis could not complete)"
fi
exit "$STATUS"
