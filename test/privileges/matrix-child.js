// Run by test/privileges.test.ts as an unprivileged user (setpriv) with some set of
// capabilities: tries every entry point of the library once and prints one JSON object,
// { cell: { ok: true, ...what it saw } | { ok: false, name, code, operation, message } }.
// A cell whose object did not load is { skipped: true }.
'use strict';
const os = require('os');

const config = JSON.parse(process.argv[2]);
const { BpfObject, BpfMap, RingBuffer, features, probe, tracePipe } = require(config.dist);

// In a user namespace with a delegating bpffs: the token's mount (test/privileges/token-userns.c).
const openOptions = config.tokenPath === undefined ? {} : { tokenPath: config.tokenPath };

const cells = {};
/** Runs one entry point; `needs` (when given) is what it uses, null when that failed. */
async function cell(name, run, needs) {
  if (needs === null) {
    cells[name] = { skipped: true };
    return;
  }
  try {
    cells[name] = { ok: true, ...((await run()) ?? {}) };
  } catch (e) {
    cells[name] = { ok: false, name: e.name, code: e.code, operation: e.operation, message: String(e.message).split('\n')[0] };
  }
}

const linkType = (link) => {
  const { type } = link.info;
  link.close();
  return { type };
};

const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** The object loaded with only `programs`, its `target` set to this process. */
async function loaded(programs, options = openOptions) {
  const obj = BpfObject.open(config.object, options);
  for (const p of obj.programs) p.autoload = programs.includes(p.name);
  try {
    await obj.load();
    obj.map('target').set(0, process.pid);
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}

(async () => {
  await cell('open', () => {
    const obj = BpfObject.open(config.object);
    const programs = obj.programs.length;
    obj.close();
    return { programs };
  });
  await cell('features', () => {
    const f = features();
    return { ringbuf: f.ringbuf, tracefs: f.tracefs, bpffs: f.bpffs };
  });
  await cell('probe', () => ({ hash: probe.mapType('hash'), socket: probe.programType('socket_filter') }));

  if (config.tokenPath !== undefined) {
    await cell('load without a token', async () => (await loaded(['on_sys_enter'], { tokenPath: '' })).close());
    await cell('load with LIBBPF_BPF_TOKEN_PATH', async () => {
      process.env.LIBBPF_BPF_TOKEN_PATH = config.tokenPath;
      try {
        (await loaded(['on_sys_enter'], {})).close();
      } finally {
        delete process.env.LIBBPF_BPF_TOKEN_PATH;
      }
    });
  }

  let tracing = null;
  await cell('load tracing', async () => void (tracing = await loaded(['on_getpriority', 'on_sys_enter'])));
  await cell('map CRUD', () => {
    const counts = tracing.map('counts');
    counts.set(9, 5n);
    const got = counts.get(9);
    counts.delete(9);
    return { got: String(got), after: counts.has(9) };
  }, tracing);
  let ring = null;
  let perf = null;
  await cell('ring buffer', () => void (ring = tracing.map('ring').ringBuffer()), tracing);
  await cell('perf buffer', () => void (perf = tracing.map('perf').perfBuffer()), tracing);
  await cell('tracepoint attach', () => {
    const link = tracing.program('on_getpriority').attachTracepoint('syscalls', 'sys_enter_getpriority');
    for (let i = 0; i < 3; i++) os.getPriority(0);
    link.close();
    return { hits: Number(tracing.map('counts').get(0) ?? 0n) };
  }, tracing);
  if (ring) cells['ring buffer'].records = ring.drain().length;
  if (perf) cells['perf buffer'].records = perf.drain().length;
  await cell('raw tracepoint attach', () => {
    const link = tracing.program('on_sys_enter').attachRawTracepoint('sys_enter');
    os.getPriority(0);
    link.close();
    return { hits: Number(tracing.map('counts').get(1) ?? 0n) };
  }, tracing);
  await cell('pin', () => {
    const path = `${config.pinDir}/counts`;
    tracing.map('counts').pin(path);
    const again = BpfMap.openPinned(path);
    again.set(u32(7), Buffer.alloc(8, 1));
    const seen = tracing.map('counts').has(7);
    again.close();
    tracing.map('counts').unpin();
    return { seen };
  }, tracing);
  await cell('pin (directory of another user)', () => tracing.map('target').pin(`${config.foreignDir}/target`), tracing);
  tracing?.close();

  // What a privileged loader shares through bpffs: maps an unprivileged consumer uses.
  await cell('pinned map CRUD', () => {
    const target = BpfMap.openPinned(config.shared.target);
    try {
      target.set(u32(0), u32(process.pid));
      return { target: target.get(u32(0)).readUInt32LE() };
    } finally {
      target.close();
    }
  });
  await cell('pinned ring buffer', () => {
    const ringMap = BpfMap.openPinned(config.shared.ring);
    try {
      const reader = new RingBuffer([ringMap]);
      for (let i = 0; i < 2; i++) os.getPriority(0);
      const records = reader.drain().filter((r) => r.data.readUInt32LE(0) === process.pid).length;
      reader.close();
      return { records };
    } finally {
      ringMap.close();
    }
  });

  await cell('pinned perf buffer', () => {
    const perfMap = BpfMap.openPinned(config.shared.perf);
    try {
      const reader = perfMap.perfBuffer();
      os.getPriority(0);
      const records = reader.drain().filter((r) => r.data.readUInt32LE(0) === process.pid).length;
      reader.close();
      return { records };
    } finally {
      perfMap.close();
    }
  });
  await cell('openPinned (a root-only pin)', () => BpfMap.openPinned(config.shared.rootOnly).close());

  let socket = null;
  await cell('load socket, cgroup_skb', async () => void (socket = await loaded(['socket_keep', 'cgroup_pass'])));
  await cell('testRun', () => ({ retval: socket.program('socket_keep').testRun({ data: Buffer.alloc(64) }).retval }), socket);
  await cell('cgroup attach', () => linkType(socket.program('cgroup_pass').attachCgroup(config.cgroup)), socket);
  socket?.close();

  let net = null;
  await cell('load xdp, tc', async () => void (net = await loaded(['xdp_pass', 'tc_pass'])));
  await cell('xdp attach', () => linkType(net.program('xdp_pass').attachXdp(config.ifindex)), net);
  await cell('tc attach', () => linkType(net.program('tc_pass').attachTc(config.ifindex)), net);
  net?.close();

  await cell('trace pipe', () => tracePipe().close());
  console.log(JSON.stringify(cells));
})();
