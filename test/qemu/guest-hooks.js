// Runs inside the QEMU guest (scripts/qemu/run.sh): attaches the kernel_hooks fixture's
// programs, triggers them, and prints one JSON line with the counts and any errors.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { BpfObject, features } = require('../../dist/lib/index.js');

/** Runs examples/hello until it prints Hello, World! for a shell's clone: its first lines. */
function helloExample() {
  const { spawn, spawnSync } = require('child_process');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, '../../dist/examples/hello/hello.js')]);
    let out = '';
    const timer = setTimeout(() => child.kill('SIGINT'), 60000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('MESSAGE\n') && !out.includes('Hello')) spawnSync('sh', ['-c', 'true & wait']);
      if (out.includes('Hello, World!')) child.kill('SIGINT');
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out.split('\n').slice(0, 3));
    });
  });
}

(async () => {
  const result = { kernel: os.release(), attached: {}, errors: {}, hits: [], features: features() };
  const obj = BpfObject.open(path.join(__dirname, '../../build-bpf/kernel_hooks.bpf.o'));
  obj.globals.set('target_tgid', process.pid);
  await obj.load();
  const attach = (name, fn) => {
    try {
      result.attached[name] = fn(obj.program(name)).info.type;
    } catch (e) {
      result.errors[name] = e.message;
    }
  };
  attach('on_kprobe', (p) => p.attachKprobe('__x64_sys_getpriority'));
  attach('on_kretprobe', (p) => p.attachKprobe('__x64_sys_getpriority', { retprobe: true }));
  attach('on_ksyscall', (p) => p.attachKsyscall('getpriority'));
  attach('on_fentry', (p) => p.attachTrace());
  attach('on_fexit', (p) => p.attachTrace());
  attach('on_file_open', (p) => p.attachLsm());
  for (let i = 0; i < 5; i++) os.getPriority(0);
  for (let i = 0; i < 3; i++) fs.closeSync(fs.openSync('/proc/self/status', 'r'));
  result.hits = [...obj.map('hits').values()].map(Number);
  obj.close();
  result.hello = await helloExample();
  console.log(`GUEST-RESULT ${JSON.stringify(result)}`);
})().catch((e) => {
  console.log(`GUEST-RESULT ${JSON.stringify({ fatal: e.message })}`);
  process.exitCode = 1;
});
