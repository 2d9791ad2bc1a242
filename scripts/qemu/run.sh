#!/usr/bin/env bash
# Runs a command on one of Debian's own kernels under QEMU (TCG; no KVM needed), with this
# machine's root file system shared read-only (9p) under a tmpfs overlay, so the same node,
# addon and objects run there. Prints the guest's console; exits with the command's status.
#
#   bash scripts/qemu/run.sh [--kernel NAME] <command...>     e.g. node test/qemu/guest.js
#   bash scripts/qemu/run.sh [--kernel NAME] --prepare        the set-up below only, no boot
#
# Kernels (NAME): bookworm (linux-image-amd64 of Debian 12: 6.1, the default) and
# bookworm-backports (Debian 12's backported kernel: 6.12). Both have kprobes, fprobe
# (kprobe.multi), fentry/fexit and BPF LSM built in; the guest boots with lsm=...,bpf.
#
# Set-up (first run): qemu-system-x86, busybox-static, cpio and kmod from Debian, and the
# kernel package fetched with apt-get download and unpacked into deps/qemu/NAME/ (through
# a private apt configuration for the backports suite; nothing is committed).
#
# Environment: EBPF_QEMU_ACCEL (tcg, the default, or kvm), EBPF_QEMU_MEMORY (MiB, 2048),
# EBPF_QEMU_TIMEOUT (seconds, 600).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf '[qemu] %s\n' "$*" >&2; }

name=bookworm
if [[ "${1:-}" == --kernel ]]; then
  name=$2
  shift 2
fi
case "$name" in
  bookworm | bookworm-backports) ;;
  *) echo "unknown kernel '$name': bookworm or bookworm-backports" >&2; exit 2 ;;
esac
prepare=0
if [[ "${1:-}" == --prepare ]]; then
  prepare=1
  shift
fi
cache="$root/deps/qemu/$name"

source "$root/scripts/apt.sh"
ensure_packages qemu-system-x86 busybox-static cpio kmod xz-utils zstd

mkdir -p "$cache"
if [[ ! -f "$cache/kernel/.ready" ]]; then
  apt_opts=()
  if [[ "$name" == bookworm-backports ]]; then
    private_apt "$cache/apt" "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_uri) bookworm-backports main"
    apt_opts=("${PRIVATE_APT[@]}")
  fi
  pkg="$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')"
  log "fetching $pkg"
  rm -rf "$cache/kernel" "$cache/deb"
  mkdir -p "$cache/deb" "$cache/kernel"
  (cd "$cache/deb" && apt-get "${apt_opts[@]}" download -qq "$pkg" >&2)
  dpkg-deb -x "$cache"/deb/*.deb "$cache/kernel"
  rm -rf "$cache/deb"
  touch "$cache/kernel/.ready"
fi
kernel="$(ls "$cache"/kernel/boot/vmlinuz-* | head -n1)"
modules="$(ls -d "$cache"/kernel/lib/modules/* | head -n1)"

# The modules the guest needs for its root file system, each after what it depends on
# (modinfo's "depends"), minus those built into this kernel.
resolved=()
resolve() {  # module name
  local m=${1//-/_} f dep
  for dep in "${resolved[@]}"; do [[ "${dep##*/}" == "$m".ko* ]] && return 0; done
  f="$(find "$modules/kernel" -name "$m.ko*" -o -name "${m//_/-}.ko*" | head -n1)"
  if [[ -z "$f" ]]; then
    grep -qE "/(${m}|${m//_/-})\.ko" "$modules/modules.builtin" && return 0
    echo "module $m is neither built in nor in $modules" >&2
    exit 1
  fi
  for dep in $(modinfo -F depends "$f" | tr ',' ' '); do resolve "$dep"; done
  resolved+=("$f")
}
initrd="$cache/initrd.cpio.gz"
if [[ ! -f "$initrd" || "${BASH_SOURCE[0]}" -nt "$initrd" || "$cache/kernel/.ready" -nt "$initrd" ]]; then
  log "building the initramfs"
  work="$(mktemp -d)"
  mkdir -p "$work"/{bin,dev,proc,sys,host,rw,newroot,modules}
  cp /bin/busybox "$work/bin/busybox"
  for m in virtio_pci 9pnet_virtio 9p overlay; do resolve "$m"; done
  : > "$work/modules/order"
  for f in "${resolved[@]}"; do
    m="$(basename "$f")"; m="${m%%.ko*}"
    case "$f" in
      *.xz) xz -dc "$f" > "$work/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" > "$work/modules/$m.ko" ;;
      *) cp "$f" "$work/modules/$m.ko" ;;
    esac
    echo "$m" >> "$work/modules/order"
  done
  cat > "$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
cmd="$(sed -n 's/.*ebpf_cmd=\([^ ]*\).*/\1/p' /proc/cmdline | base64 -d)"
while read -r m; do insmod "/modules/$m.ko" 2>/dev/null; done < /modules/order
mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /host
mount -t tmpfs tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
mount -t tracefs tracefs /newroot/sys/kernel/tracing
mount -t bpf bpf /newroot/sys/fs/bpf
mount -t securityfs securityfs /newroot/sys/kernel/security
echo "=== guest: $(uname -r) ==="
chroot /newroot /bin/sh -c "$cmd"
echo "=== guest exit: $? ==="
poweroff -f
INIT
  chmod +x "$work/init"
  (cd "$work" && find . | cpio -o -H newc --quiet | gzip -1 > "$initrd")
  rm -rf "$work"
fi
[[ $prepare == 1 ]] && exit 0

cmd="cd $(printf %q "$PWD") && $(printf '%q ' "$@")"
encoded="$(printf '%s' "$cmd" | base64 -w0)"
# EBPF_QEMU_ACCEL=kvm (with a usable /dev/kvm) runs the guest at the host's speed, for
# benchmarks (scripts/bench-bcc.sh); the tests keep TCG, which every machine has.
accel="${EBPF_QEMU_ACCEL:-tcg}"
case "$accel" in
  tcg) accel_opts=(-accel tcg) ;;
  kvm) accel_opts=(-accel kvm -cpu max) ;;
  *) echo "EBPF_QEMU_ACCEL must be tcg or kvm, not '$accel'" >&2; exit 2 ;;
esac
log "booting $(basename "$kernel") (${accel^^})"
out="$(mktemp)"
timeout "${EBPF_QEMU_TIMEOUT:-600}" qemu-system-x86_64 "${accel_opts[@]}" -m "${EBPF_QEMU_MEMORY:-2048}" -smp 2 -nographic -no-reboot \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 lsm=capability,bpf ebpf_cmd=$encoded" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -nic none < /dev/null | tee "$out"
status="$(sed -n 's/^=== guest exit: \([0-9]*\) ===.*/\1/p' "$out" | tr -d '\r' | tail -n1)"
rm -f "$out"
exit "${status:-1}"
