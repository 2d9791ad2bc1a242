#!/usr/bin/env bash
# The kernel matrix: runs the test files that need kprobes, kprobe.multi, fentry/fexit/
# fmod_ret and BPF LSM (which our machines' kernel lacks) with the same jest, inside QEMU,
# on each of Debian's kernels (scripts/qemu/run.sh), and reports each run's results.
#
#   bash scripts/test-vm.sh [jest files...]         npm run test:vm
#
# EBPF_NATIVE selects the addon build, as for jest; EBPF_VM_KERNELS the kernels
# (default: "bookworm bookworm-backports"). Prints "vm tests: N passed, N failed, N skipped"
# last; exits non-zero when a kernel's run fails.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

files=("$@")
if ((${#files[@]} == 0)); then
  files=(test/kernel-hooks.test.ts test/features.test.ts test/attach-probes.test.ts test/attach-net-fallback.test.ts)
fi
kernels=(${EBPF_VM_KERNELS:-bookworm bookworm-backports})
native=()
[[ -n "${EBPF_NATIVE:-}" ]] && native=("EBPF_NATIVE=$(realpath "$EBPF_NATIVE")")

passed=0 failed=0 skipped=0 status=0
for kernel in "${kernels[@]}"; do
  echo "=== kernel matrix: $kernel ==="
  out="$(mktemp)"
  start=$SECONDS
  bash scripts/qemu/run.sh --kernel "$kernel" env CI=true HOME=/tmp "${native[@]}" sh scripts/qemu/jest-guest.sh "${files[@]}" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  read -r p f s < <(tr -d '\r' < "$out" | sed -n 's/^VM-RESULT \([0-9]*\) \([0-9]*\) \([0-9]*\)$/\1 \2 \3/p' | tail -n1; echo "0 1 0")
  rm -f "$out"
  echo "=== $kernel: $p passed, $f failed, $s skipped in $((SECONDS - start)) s (exit $rc) ==="
  if ((rc != 0 && f == 0)); then f=1; fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  ((rc == 0)) || status=1
done
echo "vm tests: $passed passed, $failed failed, $skipped skipped"
exit $status
