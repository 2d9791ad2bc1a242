// Runs inside the QEMU guest (scripts/qemu/run.sh), on Debian 12's kernel 6.1: no tcx links
// and no BPF netfilter hooks there. attachTc() falls back to a clsact qdisc on loopback (the
// guest's own), and the errors name what the kernel lacks. Prints one JSON line.
'use strict';
const { execFileSync } = require('child_process');
const dgram = require('dgram');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { BpfObject, features } = require('../../dist/lib/index.js');

const ROOT = path.join(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'build-bpf/attach_net.bpf.o');
const counts = (obj) => [...obj.map('counts').values()].map(Number);
const qdiscs = () => execFileSync('tc', ['qdisc', 'show', 'dev', 'lo'], { encoding: 'utf8' });

/** The guest kernel's clsact qdisc and BPF classifier are modules: load them from its package. */
function loadTcModules() {
  const modules = path.join(ROOT, 'deps/qemu/kernel/lib/modules');
  const dir = path.join(modules, fs.readdirSync(modules)[0], 'kernel/net/sched');
  for (const m of ['sch_ingress', 'cls_bpf']) execFileSync('insmod', [path.join(dir, `${m}.ko`)]);
}

async function sendThree() {
  const s = dgram.createSocket('udp4');
  for (let i = 0; i < 3; i++) await new Promise((res) => s.send('x', 9, '127.0.0.1', res));
  s.close();
}

(async () => {
  const result = { kernel: os.release(), features: { tcx: features().tcx } };
  try {
    execFileSync('ip', ['link', 'set', 'lo', 'up']);
    const bare = BpfObject.open(FIXTURE);
    bare.program('nf_count').autoload = false;
    await bare.load();
    try {
      bare.program('tc_count').attachTc('lo').close();
    } catch (e) {
      result.withoutModules = e.message.split('\n')[0];
    }
    bare.close();

    loadTcModules();
    const obj = BpfObject.open(FIXTURE);
    obj.program('nf_count').autoload = false;
    await obj.load();
    const link = obj.program('tc_count').attachTc('lo', { direction: 'egress' });
    result.target = link.target;
    result.info = link.info;
    result.qdiscWith = qdiscs();
    await sendThree();
    result.during = counts(obj);
    link.close();
    result.qdiscAfter = qdiscs();
    await sendThree();
    result.after = counts(obj);
    try {
      obj.program('tc_count').attachTc('lo', { api: 'tcx' });
    } catch (e) {
      result.tcxError = e.message.split('\n')[0];
    }
    obj.close();

    const nf = BpfObject.open(FIXTURE);
    for (const p of nf.programs) p.autoload = p.name === 'nf_count';
    try {
      await nf.load();
    } catch (e) {
      result.netfilter = e.message.split('\n')[0];
    }
    nf.close();
  } catch (e) {
    result.fatal = e.stack;
  }
  console.log(`GUEST-RESULT ${JSON.stringify(result)}`);
})();
