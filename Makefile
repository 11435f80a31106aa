# Missive — build, run and test. See README.md.

CARGO_TARGET_DIR ?= $(HOME)/.cache/missive-target
export CARGO_TARGET_DIR
CARGO ?= cargo

.PHONY: deps js-deps nio-deps smtp-deps synapse-deps web web-deps web-test run build build-release test test-rust lint fmt schemathesis bench clean-test-dbs ensure-postgres

## Build everything (release) and start the server on 127.0.0.1:8008 with
## embedded storage in ./data and open registration for local trials.
run: web build-release
	MISSIVE_REGISTRATION=$${MISSIVE_REGISTRATION:-open} $(CARGO_TARGET_DIR)/release/missive-server

build:
	$(CARGO) build --workspace

build-release:
	$(CARGO) build --release -p missive-server

## The web client (web/, TypeScript + matrix-js-sdk) into web/dist, which
## missive-server serves at /. npm ci installs from the committed lock file.
web:
	npm ci --prefix web --no-audit --no-fund
	npm run build --prefix web

## The web client's unit tests (Vitest).
web-test:
	npm test --prefix web

## All tests: unit, storage conformance (SQLite + PostgreSQL), integration
## tests driving the real binary with matrix-sdk, matrix-js-sdk and
## matrix-nio (mail going to a real SMTP server, aiosmtpd), the web
## client's unit tests and browser tests (Playwright + chromium), and the
## schemathesis run (skipped, saying so, without the
## spec in ../shared). Installs what is missing first (see deps).
test: deps ensure-postgres clean-test-dbs js-deps nio-deps smtp-deps synapse-deps web web-test test-rust schemathesis

## Debian packages the tests need: installed when run as root; otherwise
## the one apt-get command to run is printed and make stops.
deps:
	@scripts/install-deps.sh

test-rust:
	$(CARGO) test --workspace

## matrix-js-sdk for the interoperability test (from the committed lock file).
js-deps:
	npm ci --prefix interop/js --no-audit --no-fund

## matrix-nio, pinned, in a virtualenv under ~/.cache (idempotent).
nio-deps:
	@scripts/nio-venv.sh

## aiosmtpd, pinned, in a virtualenv under ~/.cache: the SMTP server the
## e-mail tests start on loopback and read the mail of (idempotent).
smtp-deps:
	@scripts/smtp-venv.sh

## Synapse, pinned, in a virtualenv under ~/.cache: the homeserver the
## federation interoperability tests federate with (idempotent).
synapse-deps:
	@scripts/synapse-venv.sh

ensure-postgres:
	@scripts/ensure-postgres.sh

clean-test-dbs:
	@scripts/clean-test-dbs.sh

schemathesis:
	@scripts/schemathesis.sh

## Side-by-side benchmarks against Synapse (see BENCHMARKS.md); not part of
## the tests. BENCH_SCALE=full for the benchmark issue's sizes.
bench:
	bench/compare.sh missive-sqlite synapse-sqlite missive-postgres synapse-postgres

## Every linter: rustfmt, clippy (warnings are errors; the lints are in
## Cargo.toml's [workspace.lints] and clippy.toml), and for the web client
## ESLint and Prettier (web/eslint.config.js, web/.prettierrc.json).
lint: web-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	npm run lint --prefix web
	npm run format:check --prefix web

## The web client's packages, from the lock file, unless already installed
## (with the linters: an install older than them is redone).
web-deps:
	@[ -x web/node_modules/.bin/eslint ] || npm ci --prefix web --no-audit --no-fund

fmt: web-deps
	$(CARGO) fmt --all
	npm run format --prefix web
