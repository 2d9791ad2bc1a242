// Writes vmlinux.h (the running kernel's types, from /sys/kernel/btf/vmlinux) with the
// addon's BTF dumper: node scripts/vmlinux.js OUT [BTF_PATH]. EBPF_NATIVE picks a build.
'use strict';
const fs = require('fs');
const path = require('path');

const [out, btf] = process.argv.slice(2);
if (!out) {
  console.error('usage: node scripts/vmlinux.js OUT [BTF_PATH]');
  process.exit(2);
}
const addon = process.env.EBPF_NATIVE
  ? require(path.resolve(process.env.EBPF_NATIVE))
  : require('node-gyp-build')(path.join(__dirname, '..'));
const text = addon.vmlinuxHeader(btf);
const tmp = `${out}.tmp`;
fs.writeFileSync(tmp, text);
fs.renameSync(tmp, out);
