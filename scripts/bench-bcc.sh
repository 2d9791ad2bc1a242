#!/usr/bin/env bash
# The bench with bcc's Python ring buffer consumer beside ebpf's, in one run: bcc compiles
# its programs at run time against the running kernel's headers, which this machine's
# kernel does not have, so the bench runs under QEMU on Debian's own kernel
# (scripts/qemu/run.sh), with that kernel's header packages unpacked for the guest.
#
#   bash scripts/bench-bcc.sh [options of dist/bench/run.js]     e.g. --repeats 5
#
# Set-up: python3-bpfcc from Debian (on this machine: the guest shares its root file
# system), the headers of the guest's kernel fetched with apt-get download into
# deps/qemu/bookworm/headers/ (nothing is committed), and what scripts/setup.sh builds.
# The guest runs under TCG (software emulation, several times slower than the host: pass
# smaller sizes, e.g. --live 20000); EBPF_QEMU_ACCEL=kvm asks for KVM where nested
# virtualisation works (on our machines the guest kernel hangs at boot under KVM).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[bench-bcc] %s\n' "$*" >&2; }
cd "$root"

source scripts/apt.sh
ensure_packages python3-bpfcc
[[ -f dist/bench/run.js && -f build-bpf/bench.bpf.o ]] || bash scripts/setup.sh

cache="$root/deps/qemu/bookworm"
bash scripts/qemu/run.sh --prepare  # the kernel and the initramfs (fetched and built once)
release="$(basename "$(ls -d "$cache"/kernel/lib/modules/* | head -n1)")"  # e.g. 6.1.0-57-amd64
headers="$cache/headers"
if [[ ! -f "$headers/.ready-$release" ]]; then
  log "fetching the headers of $release"
  rm -rf "$headers" && mkdir -p "$headers/deb"
  (cd "$headers/deb" && apt-get download -qq "linux-headers-$release" "linux-headers-${release%-*}-common" >&2)
  for deb in "$headers"/deb/*.deb; do dpkg-deb -x "$deb" "$headers"; done
  rm -rf "$headers/deb"
  touch "$headers/.ready-$release"
fi

accel=${EBPF_QEMU_ACCEL:-tcg}

# The guest's command, as a script on the shared file system (the kernel command line is
# short): the headers where bcc looks for them (/lib/modules/RELEASE/build for the
# architecture's, /lib/modules/RELEASE/source for the common ones, as Debian installs
# them), the bench, and the ring maps' memory (a 256 MiB ring on each side) within the
# guest's.
guest="$(mktemp "$root/deps/qemu/bench-bcc.XXXXXX.sh")"
trap 'rm -f "$guest"' EXIT
{
  echo 'set -e'
  echo "mkdir -p /lib/modules/$release"
  echo "ln -sfn $(printf %q "$headers/usr/src/linux-headers-$release") /lib/modules/$release/build"
  echo "ln -sfn $(printf %q "$headers/usr/src/linux-headers-${release%-*}-common") /lib/modules/$release/source"
  echo "ulimit -l unlimited"
  printf 'node dist/bench/run.js'
  printf ' %q' "$@"
  echo
} > "$guest"
EBPF_QEMU_ACCEL=$accel EBPF_QEMU_MEMORY=${EBPF_QEMU_MEMORY:-4096} EBPF_QEMU_TIMEOUT=${EBPF_QEMU_TIMEOUT:-1800} \
  bash scripts/qemu/run.sh bash "$guest"
