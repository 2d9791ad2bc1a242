#!/usr/bin/env bash
# Compiles every .bpf.c of test/fixtures/bpf and examples into build-bpf/ with the
# CMake rules (CMakeLists.txt, EBPF_ADDON=OFF), using the addon built by node-gyp to write
# vmlinux.h.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extra=()
[[ "${EBPF_LIBBPF:-}" == system ]] && extra+=(-DEBPF_SYSTEM_LIBBPF=ON)
cmake -S "$root" -B "$root/build-bpf/cmake" -DEBPF_ADDON=OFF "${extra[@]}" > /dev/null
cmake --build "$root/build-bpf/cmake" -- --no-print-directory
