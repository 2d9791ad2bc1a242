// Which libbpf binding.gyp links: "static" (the pinned build in deps/libbpf, made by
// scripts/libbpf.sh) or "system" (pkg-config). EBPF_LIBBPF=system|static overrides.
'use strict';
const fs = require('fs');
const path = require('path');
const forced = process.env.EBPF_LIBBPF;
if (forced === 'system' || forced === 'static') {
  process.stdout.write(forced);
} else {
  const lib = path.join(__dirname, '..', 'deps', 'libbpf', 'install', 'lib', 'libbpf.a');
  process.stdout.write(fs.existsSync(lib) ? 'static' : 'system');
}
