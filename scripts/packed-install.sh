#!/usr/bin/env bash
# The packed-install smoke test (test/packed-install.test.ts runs it; as root):
#   1. npm pack this package (dist/ and prebuilds/ must be built);
#   2. in a Debian 12 chroot that has only a minimal base system plus libelf1, zlib1g and
#      libzstd1 (and libatomic1 for Node 26; no compiler, no libbpf, no headers), with
#      Node and npm bind-mounted in, npm install the tarball into a clean directory with
#      --ignore-scripts, offline (the dependencies' tarballs are packed next to ours);
#   3. there, load a BPF object, attach its tracepoint, trigger it and read the events
#      from the ring buffer. The last line of output is the smoke program's JSON report.
#
# The chroot's base (debootstrap --variant=minbase) is cached in deps/rootfs-bookworm
# (a minute or two to make, once); each run works in an overlay on it under
# /tmp/ebpf-packed-<pid>, and unmounts and removes everything it mounted and made.
# EBPF_SMOKE_NODE picks the node binary to run in the chroot (default: the node on PATH).
set -euo pipefail
# Nothing here is the addon under test: no sanitizer runtime preloaded into debootstrap's
# wget or the chroot's node (the ASan run, scripts/asan.sh, sets these; wget hangs with it).
unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '[packed-install] %s\n' "$*" >&2; }

SUITE=bookworm
# What the addon needs (libelf1, zlib1g, libzstd1), and libatomic1, which the official
# Node 26 binary needs (the test runs in the chroot with the Node that runs the suite).
INCLUDE=libelf1,zlib1g,libzstd1,libatomic1
rootfs="$root/deps/rootfs-$SUITE"
stamp="$rootfs/.ebpf-rootfs"
node_bin="$(readlink -f "${EBPF_SMOKE_NODE:-$(command -v node)}")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
fixture="$root/build-bpf/events.bpf.o"

[[ $(id -u) -eq 0 ]] || { echo "the packed-install smoke test mounts and chroots: run it as root" >&2; exit 1; }
[[ -f dist/lib/index.js && -f prebuilds/linux-x64/ebpf.glibc.node && -f "$fixture" ]] ||
  { echo "build first: dist/, prebuilds/ and build-bpf/events.bpf.o are needed (npm run build, npm run build:prebuild)" >&2; exit 1; }

# The cached base system.
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "minbase $INCLUDE" ]]; then
  source scripts/apt.sh
  ensure_packages debootstrap
  # The Debian archive this machine's apt already uses for the suite.
  uri="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' | awk -v s="$SUITE" '$2 == s { print $1; exit }')"
  [[ -n "$uri" ]] || { echo "no apt source for Debian $SUITE on this machine: cannot debootstrap" >&2; exit 1; }
  tmp="$rootfs.tmp-$$"
  rm -rf "$tmp" "$rootfs"
  log "debootstrap --variant=minbase --include=$INCLUDE $SUITE (once; cached in deps/)"
  start=$SECONDS
  # A stalled download must not hang the run: wget (debootstrap's fetcher) gives up on a
  # silent connection after 30 s and retries, and debootstrap itself is tried twice.
  wgetrc="$(mktemp)"
  printf 'timeout = 30\ntries = 4\nwaitretry = 2\n' > "$wgetrc"
  made=0
  for attempt in 1 2; do
    rm -rf "$tmp"
    if WGETRC="$wgetrc" debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp" "$uri" > "$tmp.log" 2>&1; then
      made=1
      break
    fi
    log "debootstrap attempt $attempt failed"
  done
  rm -f "$wgetrc"
  ((made)) || { tail -n 20 "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; exit 1; }
  rm -f "$tmp.log"
  # No package cache, and apt not reachable as a way to add a compiler: it is a base only.
  rm -rf "$tmp"/var/cache/apt/archives/*.deb
  echo "minbase $INCLUDE" > "$tmp/.ebpf-rootfs"
  mv "$tmp" "$rootfs"
  log "base system ready in $((SECONDS - start)) s"
fi

work="/tmp/ebpf-packed-$$"
mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
mnt() {  # target mount-args...: mounts and remembers it for the clean-up
  local target=$1; shift
  mount "$@" "$target"
  mounted+=("$target")
}

mkdir -p "$work/upper" "$work/work" "$work/root" "$work/pack"
r="$work/root"
mnt "$r" -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/work"

# The package, and its dependencies' tarballs (the versions this checkout uses), so that
# the install needs no registry.
log "npm pack"
npm pack --silent --pack-destination "$work/pack" > /dev/null
for dep in node-gyp-build node-addon-api; do
  version="$(node -p "require('$dep/package.json').version")"
  (cd "$work/pack" && npm pack --silent --prefer-offline "$dep@$version" > /dev/null)
done
mkdir -p "$r/pack" "$r/app" "$r/opt/npm"
cp "$work"/pack/*.tgz "$r/pack/"
cp "$fixture" "$r/app/events.bpf.o"
cat > "$r/app/smoke.js" <<'EOF'
// Load, attach a tracepoint, trigger it and read the ring buffer, with the installed package.
const os = require('os');
const { BpfObject, libbpfVersion } = require('ebpf');
(async () => {
  const obj = BpfObject.open('/app/events.bpf.o');
  await obj.load();
  obj.map('target').set(0, process.pid); // the programs report this process only
  const links = obj.attach();
  const reader = obj.map('events').ringBuffer();
  const wanted = 10;
  setImmediate(() => { for (let i = 0; i < wanted; i++) os.getPriority(0); });
  const records = [];
  for await (const rec of reader) {
    records.push({ tgid: rec.readUInt32LE(4), seq: Number(rec.readBigUInt64LE(8)) });
    if (records.length === wanted) break;
  }
  links.close();
  obj.close();
  const addons = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  console.log(JSON.stringify({ node: process.version, libbpf: libbpfVersion(), addons, pid: process.pid, records }));
})().catch((err) => { console.error(err); process.exit(1); });
EOF

# Node and npm from this machine, read-only; the kernel's file systems.
touch "$r/usr/local/bin/node"
mnt "$r/usr/local/bin/node" --bind -o ro "$node_bin"
mnt "$r/opt/npm" --bind -o ro "$npm_dir"
mnt "$r/proc" -t proc proc
mnt "$r/sys" -t sysfs sysfs
mnt "$r/sys/kernel/tracing" --bind /sys/kernel/tracing
mnt "$r/sys/fs/bpf" --bind /sys/fs/bpf
mnt "$r/dev" --bind /dev

log "installing the tarball in the chroot (--ignore-scripts, offline) and running the smoke test"
chroot "$r" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root /bin/sh -eu -c '
  for tool in cc gcc g++ c++ clang make pkg-config; do
    if command -v "$tool" > /dev/null; then echo "the chroot has $tool" >&2; exit 1; fi
  done
  if ls /usr/lib/x86_64-linux-gnu/libbpf* /usr/include/bpf > /dev/null 2>&1; then echo "the chroot has libbpf" >&2; exit 1; fi
  cd /app
  node /opt/npm/bin/npm-cli.js install --offline --ignore-scripts --no-audit --no-fund --loglevel=error \
    --cache /tmp/npm-cache /pack/*.tgz > /dev/null
  if [ -e node_modules/ebpf/build ]; then echo "the install built the addon" >&2; exit 1; fi
  node smoke.js
'
