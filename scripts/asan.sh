#!/usr/bin/env bash
# The native code under AddressSanitizer and UndefinedBehaviorSanitizer: libbpf and the
# addon built with -fsanitize=address,undefined (gcc 12; deps/libbpf-asan, build-asan/),
# node run with gcc's libasan preloaded (node itself is not instrumented), then the fuzz
# harness and jest test files against that build.
#
#   bash scripts/asan.sh                   fuzz (FUZZ_SECONDS per target) + the core tests
#   bash scripts/asan.sh --all             fuzz + the whole jest suite
#   bash scripts/asan.sh test/x.test.ts    fuzz + these jest files
#   FUZZ_SECONDS=0 bash scripts/asan.sh    no fuzzing
#   FUZZ_SEED=7 FUZZ_CASES=2000 ...        a fixed seed, and at most 2000 cases per target
#                                          (the same cases on any machine that is fast enough)
#
# A sanitizer report aborts the process that made it: jest fails the file, the fuzz
# driver reports the case (seed and index) with the report's last lines.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '[asan] %s\n' "$*" >&2; }
started=$SECONDS

bash scripts/setup.sh  # libbpf's source, the BPF objects, dist/

sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer"
asan_libbpf="$root/deps/libbpf-asan"
# libbpf reads ELF headers, symbols and relocations where the file puts them: a crafted
# object puts them at odd offsets, which x86-64 reads fine but C calls undefined (UBSan's
# "misaligned address" in bpf_object__elf_collect, found by the ELF fuzzer). Everything
# else is checked in libbpf; our own code keeps the alignment check.
libbpf_exceptions="-fno-sanitize=alignment"
asan_stamp="$asan_libbpf/install/.flags"
if [[ ! -f "$asan_libbpf/install/lib/libbpf.a" || "$root/deps/libbpf/install/.version" -nt "$asan_libbpf/install/lib/libbpf.a" ||
      "$(cat "$asan_stamp" 2>/dev/null)" != "$sanitize $libbpf_exceptions" ]]; then
  log "building libbpf with $sanitize"
  rm -rf "$asan_libbpf"
  make -C "$root/deps/libbpf/src/src" -s -j"$(nproc)" BUILD_STATIC_ONLY=1 \
    OBJDIR="$asan_libbpf/obj" DESTDIR="$asan_libbpf/install" PREFIX=/ LIBDIR=/lib INCLUDEDIR=/include \
    EXTRA_CFLAGS="-fPIC -fvisibility=hidden -O1 -g $sanitize $libbpf_exceptions" install install_uapi_headers >&2
  echo "$sanitize $libbpf_exceptions" > "$asan_stamp"
fi
if [[ ! -f build-asan/Release/ebpf.node || -n "$(find src-native CMakeLists.txt "$asan_libbpf/install/lib/libbpf.a" -newer build-asan/Release/ebpf.node -print -quit)" ]]; then
  log "building the addon with $sanitize (cmake-js, build-asan/)"
  npx --no-install cmake-js rebuild --out build-asan --CDEBPF_SANITIZE=address,undefined --CDEBPF_BPF=OFF \
    --CDEBPF_LIBBPF_DIR="$asan_libbpf/install" >&2
fi

# Node is not built with ASan: the runtime must be loaded first, before node's own
# allocations. V8 and Node keep memory to the end on purpose (leak checks off); V8 handles
# no SIGSEGV of its own without WebAssembly, so ASan reports those with a stack.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:handle_segv=1:handle_abort=1:detect_stack_use_after_return=0:print_summary=1"
# scripts/ubsan.supp: the libbpf findings let pass, each by check and function, and why.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$root/scripts/ubsan.supp"
# Node's WebAssembly trap handler takes SIGSEGV before ASan and re-raises it: without it,
# a wild access in our code or libbpf is reported by ASan with its stack.
export NODE_OPTIONS="${NODE_OPTIONS:-} --disable-wasm-trap-handler"
export EBPF_NATIVE="$root/build-asan/Release/ebpf.node"

status=0
seed="${FUZZ_SEED:-$(date +%s)}"
if [[ "${FUZZ_SECONDS:-30}" != 0 ]]; then
  log "fuzzing for ${FUZZ_SECONDS:-30} s per target, seed $seed"
  node dist/fuzz/run.js --seed "$seed" --seconds "${FUZZ_SECONDS:-30}" ${FUZZ_CASES:+--cases "$FUZZ_CASES"} || status=1
fi

core=(test/native-hardening.test.ts test/object-lifecycle.test.ts test/map-raw.test.ts test/map-typed.test.ts
      test/map-pinning.test.ts test/btf-codecs.test.ts test/errors.test.ts test/lifetimes.test.ts
      test/ring-buffer-events.test.ts test/events-flood.test.ts test/events-zero-copy.test.ts test/attach-types.test.ts
      test/attach-probes.test.ts test/system.test.ts test/faults.test.ts test/fuzz.test.ts)
if [[ "${1:-}" == --all ]]; then
  shift
  files=("$@")
elif [[ $# -gt 0 ]]; then
  files=("$@")
else
  files=("${core[@]}")
fi
log "jest ${files[*]:-(all)} against $EBPF_NATIVE"
npx --no-install jest "${files[@]}" || status=1
log "done in $((SECONDS - started)) s (status $status)"
exit $status
