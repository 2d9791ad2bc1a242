#!/usr/bin/env bash
# Everything the package needs on a Debian 12 machine, as root; idempotent, and quick
# when all is present:
#   - Debian packages: clang-19 and llvm-19 (BPF target), libelf, zlib, zstd, pkg-config,
#     sys/sdt.h (systemtap-sdt-dev, for the USDT test helper),
#     cmake, a C++ compiler;
#   - libbpf 1.5.0 from Debian's source package, built static (scripts/libbpf.sh);
#   - tracefs at /sys/kernel/tracing and bpffs at /sys/fs/bpf;
#   - npm ci, and the builds: the addon (node-gyp, and with EBPF_BUILD_CMAKE=1 also
#     cmake-js into build-cmake/), the BPF objects (build-bpf/) and the TypeScript (dist/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '[setup] %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  echo "scripts/setup.sh installs packages and mounts filesystems: run it as root" >&2
  exit 1
fi

source scripts/apt.sh
ensure_packages clang-19 llvm-19 libelf-dev zlib1g-dev libzstd-dev pkg-config cmake make g++ python3 \
  patch xz-utils iproute2 ca-certificates systemtap-sdt-dev

bash scripts/libbpf.sh

mount_fs() {  # type target
  if ! mountpoint -q "$2"; then
    log "mounting $1 at $2"
    mkdir -p "$2"
    mount -t "$1" "$1" "$2"
  fi
}
mount_fs tracefs /sys/kernel/tracing
mount_fs bpf /sys/fs/bpf

# npm ci when node_modules is missing or older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
fi

# Rebuild what is older than its sources.
newer() {  # target sources...: true when target is missing or older than a source
  local target=$1; shift
  [[ ! -e "$target" ]] && return 0
  [[ -n "$(find "$@" -newer "$target" -print -quit 2>/dev/null)" ]]
}
native_sources=(src-native binding.gyp CMakeLists.txt deps/libbpf/install/lib/libbpf.a)
if newer build/Release/ebpf.node "${native_sources[@]}"; then
  log "building the addon (node-gyp)"
  npx --no-install node-gyp rebuild >&2
fi
if [[ "${EBPF_BUILD_CMAKE:-0}" == 1 ]] && newer build-cmake/Release/ebpf.node "${native_sources[@]}"; then
  log "building the addon (cmake-js)"
  npx --no-install cmake-js rebuild --out build-cmake >&2
fi
log "building the BPF objects"
bash scripts/build-bpf.sh >&2
if newer dist/lib/index.js lib examples typings tsconfig.json tsconfig.build.json; then
  log "building the TypeScript"
  npx --no-install tsc -p tsconfig.build.json >&2
fi
log "ready"
