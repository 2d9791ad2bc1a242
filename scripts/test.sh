#!/usr/bin/env bash
# The test command: set-up (scripts/setup.sh), then the jest suite against node-gyp's build
# of the addon (the shipped one) and the files over the addon's native surface
# (scripts/surface-tests.txt) against cmake-js's (the developer one: the same sources; CI
# also runs the whole suite on a cmake-js build under ASan, scripts/asan.sh), then the
# kernel matrix under QEMU (scripts/test-vm.sh), the committed prebuild's check and a
# rebuild of it, a source build against Debian 12's libbpf 1.1 (the install fallback), and
# the bench smoke run. Extra arguments go to the first two jest runs (in place of the
# surface files for the second). Prints one closing line:
# "tests: N passed, N failed, N skipped".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
EBPF_BUILD_CMAKE=1 bash scripts/setup.sh || exit 1

passed=0 failed=0 skipped=0 status=0
jest_run() {  # label [VAR=value...]: jest with that environment, counted in the totals
  local label=$1 result p f s; shift
  echo "=== jest against $label ==="
  result="$(mktemp)"
  env "$@" npx --no-install jest --json --outputFile="$result" "${jest_args[@]}" || status=1
  read -r p f s < <(node scripts/jest-counts.js "$result" 2>/dev/null || echo "0 1 0")
  rm -f "$result"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}
jest_args=("$@")
jest_run build/Release/ebpf.node EBPF_NATIVE=build/Release/ebpf.node
if (($# == 0)); then mapfile -t jest_args < <(grep -v '^#' scripts/surface-tests.txt); fi
jest_run "build-cmake/Release/ebpf.node (the native-surface files)" EBPF_NATIVE=build-cmake/Release/ebpf.node
# The kernel matrix (QEMU, Debian's 6.1 and 6.12 kernels): the hooks this kernel lacks.
echo "=== kernel matrix (QEMU) ==="
vm_out="$(mktemp)"
EBPF_NATIVE=build/Release/ebpf.node bash scripts/test-vm.sh 2>&1 | tee "$vm_out" || status=1
read -r p f s < <(sed -n 's/^vm tests: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$vm_out"; echo "0 1 0")
rm -f "$vm_out"
passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))

# The committed prebuild must match the sources (else: npm run build:prebuild, and commit
# prebuilds/); it is also rebuilt from them here, and the rebuilt one checked (ldd, nm -D).
echo "=== prebuild ==="
node scripts/prebuild.js --check || failed=$((failed + 1))
rebuilt="$(mktemp -d "/tmp/ebpf-prebuild-ci-$$-XXXXXX")"
if node scripts/prebuild.js --out "$rebuilt" > "$rebuilt.log" 2>&1; then
  dir="$rebuilt/prebuilds/linux-x64"
  if cmp -s "$dir/ebpf.glibc.node" prebuilds/linux-x64/ebpf.glibc.node; then
    echo "the rebuilt prebuild is byte-identical to the committed one"
  else
    echo "the rebuilt prebuild differs in its bytes from the committed one (the source hash is what is compared)"
  fi
  jest_args=(test/prebuild.test.ts)
  jest_run "the rebuilt prebuild" EBPF_PREBUILD_DIR="$dir"
else
  cat "$rebuilt.log"
  echo "the prebuild could not be rebuilt"
  failed=$((failed + 1))
fi
rm -rf "$rebuilt" "$rebuilt.log"

# node-gyp-build's fallback where no prebuild matches: a source build against a system
# libbpf, here Debian 12's 1.1 (the oldest supported), and the tests that need no newer one.
if system_build="$(node scripts/system-libbpf.js)"; then
  jest_args=(test/errors.test.ts test/map-raw.test.ts test/map-pinning.test.ts test/btf-codecs.test.ts
    test/trace-pipe.test.ts test/example-execsnoop.test.ts)
  jest_run "$system_build (the system libbpf 1.1)" EBPF_NATIVE="$system_build" \
    LD_LIBRARY_PATH="$root/deps/system-libbpf/root/usr/lib/x86_64-linux-gnu"
else
  failed=$((failed + 1))
fi

# The benchmark's smoke run (seconds): keeps bench/ from rotting; no figures are judged here.
echo "=== bench smoke run ==="
if node dist/bench/run.js --quick > /tmp/ebpf-bench-smoke.txt 2>&1; then
  tail -n 3 /tmp/ebpf-bench-smoke.txt
else
  cat /tmp/ebpf-bench-smoke.txt
  echo "the benchmark smoke run failed"
  failed=$((failed + 1))
fi
rm -f /tmp/ebpf-bench-smoke.txt

echo "tests: $passed passed, $failed failed, $skipped skipped"
if ((failed > 0 || passed == 0)); then status=1; fi
exit $status
