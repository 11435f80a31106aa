#!/usr/bin/env bash
# Installs aiosmtpd, the SMTP server the e-mail tests mail to, into a
# virtualenv under ~/.cache, pinned by interop/smtp/requirements.txt (every
# dependency). Does nothing when the venv already holds exactly those pins,
# so `make test` runs it every time. The tests find the venv's python at the
# same path ($SMTP_VENV, default ~/.cache/missive-smtp-venv).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQS=$ROOT/interop/smtp/requirements.txt
VENV=${SMTP_VENV:-$HOME/.cache/missive-smtp-venv}
STAMP=$VENV/.missive-requirements
if [ -x "$VENV/bin/python" ] && cmp -s "$REQS" "$STAMP"; then
  exit 0
fi
echo "smtp-venv.sh: installing aiosmtpd into $VENV" >&2
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
cp "$REQS" "$STAMP"
