#!/usr/bin/env bash
# The test command: set-up (scripts/setup.sh), then the jest suite once against each build
# of the addon (node-gyp's, the shipped one, and cmake-js's, the developer one), then the
# kernel matrix under QEMU (scripts/test-vm.sh) and the bench smoke run. Extra arguments go
# to jest. Prints one closing line: "tests: N passed, N failed, N skipped".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
EBPF_BUILD_CMAKE=1 bash scripts/setup.sh || exit 1

passed=0 failed=0 skipped=0 status=0
for build in build/Release/ebpf.node build-cmake/Release/ebpf.node; do
  echo "=== jest against $build ==="
  result="$(mktemp)"
  EBPF_NATIVE="$build" npx --no-install jest --json --outputFile="$result" "$@" || status=1
  read -r p f s < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(r.numPassedTests, r.numFailedTests + r.numRuntimeErrorTestSuites, r.numPendingTests + r.numTodoTests);
  ' "$result" 2>/dev/null || echo "0 1 0")
  rm -f "$result"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
# The kernel matrix (QEMU, Debian's 6.1 and 6.12 kernels): the hooks this kernel lacks.
echo "=== kernel matrix (QEMU) ==="
vm_out="$(mktemp)"
EBPF_NATIVE=build/Release/ebpf.node bash scripts/test-vm.sh 2>&1 | tee "$vm_out" || status=1
read -r p f s < <(sed -n 's/^vm tests: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$vm_out"; echo "0 1 0")
rm -f "$vm_out"
passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))

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
