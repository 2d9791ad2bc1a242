#!/usr/bin/env bash
# Build the pinned libbpf (Debian source package libbpf=1.5.0-3) as a static,
# position-independent archive under deps/libbpf/, ready to be linked into the addon, with
# the kernel UAPI headers it was written against (linux/bpf.h), newer than Debian 12's.
#
# The source comes from Debian's archive through a private apt configuration (a deb-src
# entry for trixie that is written at run time into deps/, next to the build, and never
# committed). The archive address is the one this machine's own Debian source already uses.
#
# Idempotent: does nothing when deps/libbpf/install/lib/libbpf.a matches the pinned version.
set -euo pipefail

LIBBPF_VERSION=1.5.0
LIBBPF_DEBIAN_VERSION=1.5.0-3
LIBBPF_SUITE=trixie

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/deps"
dest="$deps/libbpf"
stamp="$dest/install/.version"
# What this script installs; change it when the installed layout changes.
STAMP="$LIBBPF_DEBIAN_VERSION+uapi"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$STAMP" && -f "$dest/install/lib/libbpf.a" ]]; then
  exit 0
fi

log() { printf '[libbpf] %s\n' "$*" >&2; }
source "$root/scripts/apt.sh"

fetch_source() {
  mkdir -p "$deps/src"
  private_apt "$deps/apt" "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_uri) $LIBBPF_SUITE main"
  log "fetching Debian source package libbpf=$LIBBPF_DEBIAN_VERSION ($LIBBPF_SUITE)"
  (cd "$deps/src" && apt-get "${PRIVATE_APT[@]}" -qq source --download-only "libbpf=$LIBBPF_DEBIAN_VERSION" >&2)
}

orig="$deps/src/libbpf_${LIBBPF_VERSION}.orig.tar.gz"
if [[ ! -f "$orig" ]]; then
  fetch_source
fi
[[ -f "$orig" ]] || { echo "libbpf source tarball $orig is missing after the download" >&2; exit 1; }

log "building libbpf $LIBBPF_VERSION (static, -fPIC)"
rm -rf "$dest"
mkdir -p "$dest/src"
tar -xzf "$orig" -C "$dest/src" --strip-components=1
debian_tar="$(ls "$deps"/src/libbpf_"$LIBBPF_DEBIAN_VERSION".debian.tar.* 2>/dev/null | head -n1 || true)"
if [[ -n "$debian_tar" ]]; then
  # Apply Debian's own patches, in the order of their series file, as the package does.
  tar -xf "$debian_tar" -C "$dest/src"
  if [[ -f "$dest/src/debian/patches/series" ]]; then
    while read -r p; do
      [[ -z "$p" || "$p" == \#* ]] && continue
      patch -d "$dest/src" -p1 -s < "$dest/src/debian/patches/$p"
    done < "$dest/src/debian/patches/series"
  fi
fi

# The checkout's path stays out of the debug info (and so out of the build-id of the
# prebuild linked against it): a rebuild elsewhere gives the same bytes.
make -C "$dest/src/src" -s -j"$(nproc)" BUILD_STATIC_ONLY=1 \
  OBJDIR="$dest/obj" DESTDIR="$dest/install" PREFIX=/ LIBDIR=/lib INCLUDEDIR=/include \
  EXTRA_CFLAGS="-fPIC -fvisibility=hidden -O2 -g -ffile-prefix-map=$dest/src=libbpf" install install_uapi_headers >&2
echo "$STAMP" > "$stamp"
log "libbpf ready in $dest/install"
