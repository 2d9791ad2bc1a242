// The source build that node-gyp-build's install step falls back to where no prebuild
// matches, against a system libbpf found with pkg-config (EBPF_LIBBPF=system): built here
// against Debian 12's own libbpf, 1.1, the oldest the package supports. Its libbpf-dev and
// libbpf1 packages are downloaded with apt-get and unpacked into deps/system-libbpf/root
// (nothing is installed); the addon is built in a scratch copy of the sources and copied to
// deps/system-libbpf/ebpf.node, whose path is printed. Run it with
// LD_LIBRARY_PATH=deps/system-libbpf/root/usr/lib/x86_64-linux-gnu.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { scratchCopy } = require('./prebuild');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'deps', 'system-libbpf');
const sysroot = path.join(dir, 'root');
const SUITE = 'bookworm';

if (!fs.existsSync(path.join(dir, '.unpacked'))) {
  fs.rmSync(dir, { recursive: true, force: true });
  const debs = path.join(dir, 'debs');
  fs.mkdirSync(debs, { recursive: true });
  execFileSync('apt-get', ['-qq', '-o', 'APT::Sandbox::User=root', 'download', `libbpf-dev/${SUITE}`, `libbpf1/${SUITE}`], {
    cwd: debs,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (const deb of fs.readdirSync(debs)) execFileSync('dpkg-deb', ['-x', path.join(debs, deb), sysroot]);
  fs.writeFileSync(path.join(dir, '.unpacked'), '');
}

const scratch = scratchCopy();
try {
  execFileSync('npx', ['--no-install', 'node-gyp', 'rebuild'], {
    cwd: scratch,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      EBPF_LIBBPF: 'system',
      PKG_CONFIG_PATH: path.join(sysroot, 'usr', 'lib', 'x86_64-linux-gnu', 'pkgconfig'),
      PKG_CONFIG_SYSROOT_DIR: sysroot,
    },
  });
  fs.copyFileSync(path.join(scratch, 'build', 'Release', 'ebpf.node'), path.join(dir, 'ebpf.node'));
} catch (err) {
  process.stderr.write(`${err.stdout ?? ''}${err.stderr ?? ''}the source build against the system libbpf failed\n`);
  process.exit(1);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
console.log(path.relative(root, path.join(dir, 'ebpf.node')));
