#!/usr/bin/env bash
# Runs a command on Debian 12's own kernel (linux-image-amd64: kprobes, fentry/fexit and
# BPF LSM built in) under QEMU (TCG; no KVM needed), with this machine's root file system
# shared read-only (9p) under a tmpfs overlay, so the same node, addon and objects run
# there. Prints the guest's console; exits with the command's status.
#
#   bash scripts/qemu/run.sh <command...>      e.g. node test/qemu/guest.js
#
# Set-up (first run): qemu-system-x86, busybox-static and cpio from Debian, and the kernel
# package unpacked into deps/qemu/ (apt-get download; nothing is committed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="$root/deps/qemu"
log() { printf '[qemu] %s\n' "$*" >&2; }

source "$root/scripts/apt.sh"
ensure_packages qemu-system-x86 busybox-static cpio

mkdir -p "$cache"
if [[ ! -f "$cache/kernel/.ready" ]]; then
  pkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')"
  log "fetching $pkg"
  rm -rf "$cache/kernel" "$cache/deb"
  mkdir -p "$cache/deb" "$cache/kernel"
  (cd "$cache/deb" && apt-get download -qq "$pkg" >&2)
  dpkg-deb -x "$cache"/deb/*.deb "$cache/kernel"
  touch "$cache/kernel/.ready"
fi
kernel="$(ls "$cache"/kernel/boot/vmlinuz-* | head -n1)"
modules="$(ls -d "$cache"/kernel/lib/modules/* | head -n1)"

initrd="$cache/initrd.cpio.gz"
if [[ ! -f "$initrd" || "${BASH_SOURCE[0]}" -nt "$initrd" ]]; then
  log "building the initramfs"
  work="$(mktemp -d)"
  mkdir -p "$work"/{bin,dev,proc,sys,host,rw,newroot,modules}
  cp /bin/busybox "$work/bin/busybox"
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay; do
    f="$(find "$modules" -name "$m.ko*" | head -n1)"
    [[ -n "$f" ]] || { echo "module $m not found in $modules" >&2; exit 1; }
    case "$f" in
      *.xz) xz -dc "$f" > "$work/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" > "$work/modules/$m.ko" ;;
      *) cp "$f" "$work/modules/$m.ko" ;;
    esac
  done
  cat > "$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
cmd="$(sed -n 's/.*ebpf_cmd=\([^ ]*\).*/\1/p' /proc/cmdline | base64 -d)"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay; do
  insmod /modules/$m.ko 2>/dev/null
done
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

cmd="cd $(printf %q "$PWD") && $(printf '%q ' "$@")"
encoded="$(printf '%s' "$cmd" | base64 -w0)"
log "booting $(basename "$kernel") (TCG)"
out="$(mktemp)"
timeout 600 qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -nographic -no-reboot \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 lsm=capability,bpf ebpf_cmd=$encoded" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -nic none < /dev/null | tee "$out"
status="$(sed -n 's/^=== guest exit: \([0-9]*\) ===.*/\1/p' "$out" | tr -d '\r' | tail -n1)"
rm -f "$out"
exit "${status:-1}"
