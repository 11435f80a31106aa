#!/usr/bin/env bash
# Installs what the build and tests need on a fresh Debian machine: the
# PostgreSQL client tools, pkg-config, jq and curl, Node.js for the
# matrix-js-sdk interoperability test, ClamAV's clamd for the antivirus
# tests (with a local EICAR signature; no download), and Python's venv for
# schemathesis and matrix-nio, and Debian's chromium for the web client's
# browser tests (driven by playwright-core; no browser download), and
# coturn for the TURN tests. `make
# test` runs it: as root it installs what is missing; otherwise it prints
# the one apt-get command to run and fails.
set -euo pipefail
need=()
command -v psql >/dev/null || need+=(postgresql-client)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v jq >/dev/null || need+=(jq)
[ -x /usr/sbin/clamd ] || command -v clamd >/dev/null || need+=(clamav-daemon)
command -v curl >/dev/null || need+=(curl)
command -v node >/dev/null || need+=(nodejs npm)
command -v python3 >/dev/null || need+=(python3)
# Debian's python3 has the venv module but not ensurepip without
# python3-venv, and `python3 -m venv` then fails.
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
[ -x /usr/bin/chromium ] || need+=(chromium)
# coturn: the TURN relay the call tests run (turnserver, turnutils_uclient).
command -v turnserver >/dev/null || need+=(coturn)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "install-deps.sh: missing packages; install them as root with:" >&2
    echo "  apt-get update && apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
