#!/usr/bin/env bash
# Installs Synapse, the homeserver the federation interoperability tests
# federate with (and the benchmarks compare against), into a virtualenv
# under ~/.cache, pinned by interop/synapse/requirements.txt (every
# dependency). Does nothing when the venv already holds exactly those pins,
# so `make test` runs it every time. The tests find the venv at the same
# path ($SYNAPSE_VENV, default ~/.cache/synapse-venv).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQS=$ROOT/interop/synapse/requirements.txt
VENV=${SYNAPSE_VENV:-$HOME/.cache/synapse-venv}
STAMP=$VENV/.missive-requirements
if [ -x "$VENV/bin/python" ] && cmp -s "$REQS" "$STAMP"; then
  exit 0
fi
echo "synapse-venv.sh: installing Synapse into $VENV" >&2
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
cp "$REQS" "$STAMP"
