#!/usr/bin/env bash
# `npm run bench`: the set-up (scripts/setup.sh), Debian's bpftrace for the alternative the
# bench compares with (best effort: without it that row says it was not measured), then
# the bench itself, with this script's arguments (`npm run bench -- --quick`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/apt.sh
ensure_packages bpftrace || echo "[bench] bpftrace did not install: its row is not measured" >&2
exec node dist/bench/run.js "$@"
