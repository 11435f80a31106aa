#!/usr/bin/env bash
# Installs matrix-nio for the interoperability test into a virtualenv under
# ~/.cache, pinned by interop/nio/requirements.txt (every dependency). Does
# nothing when the venv already holds exactly those pins, so `make test`
# runs it every time. The test finds the venv's python at the same path
# ($NIO_VENV, default ~/.cache/missive-nio-venv).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQS=$ROOT/interop/nio/requirements.txt
VENV=${NIO_VENV:-$HOME/.cache/missive-nio-venv}
STAMP=$VENV/.missive-requirements
if [ -x "$VENV/bin/python" ] && cmp -s "$REQS" "$STAMP"; then
  exit 0
fi
echo "nio-venv.sh: installing matrix-nio into $VENV" >&2
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
cp "$REQS" "$STAMP"
