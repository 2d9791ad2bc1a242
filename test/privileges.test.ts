// Least privilege: every entry point of the library, run as an unprivileged user (uid
// 65534, through setpriv) with exactly (a) no capabilities, (b) CAP_BPF + CAP_PERFMON,
// (c) those and CAP_NET_ADMIN, (d) CAP_BPF alone. What the capabilities allow must work;
// what they do not must fail with a BpfError naming what is missing. A privileged loader
// (this process, root) shares pinned maps in bpffs that the unprivileged runs consume.
// Resources (netns, veth, bpffs directory, cgroup, temp dir) carry this process's pid.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfMap, BpfObject, type Link } from '../lib';
import { DIST_INDEX, fixture, hasCommand, runNode } from './helpers/kernel';

const NOBODY = 65534;
const CHILD = path.join(__dirname, 'privileges', 'matrix-child.js');

type Cell = { ok?: boolean; skipped?: boolean; name?: string; code?: string; operation?: string; message?: string; [k: string]: unknown };
type Cells = Record<string, Cell>;

/** Whether uid 65534 can read `file`: every directory above it searchable, the file readable by others. */
function readableByOthers(file: string): boolean {
  for (let p = path.resolve(file); ; p = path.dirname(p)) {
    const mode = fs.statSync(p).mode;
    const need = p === path.resolve(file) ? (fs.statSync(p).isDirectory() ? 0o005 : 0o004) : 0o001;
    if ((mode & need) !== need) return false;
    if (p === '/') return true;
  }
}

/** The cgroup v2 mount point (/sys/fs/cgroup, or /sys/fs/cgroup/unified in hybrid mode). */
function cgroup2Root(): string | undefined {
  const line = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[2] === 'cgroup2');
  return line?.split(' ')[1];
}

const usable = process.getuid?.() === 0 && hasCommand('setpriv') && hasCommand('nsenter') && hasCommand('unshare');
const cgroupRoot = cgroup2Root();
if (!usable) console.warn('privileges.test.ts: needs root and util-linux setpriv, nsenter, unshare');

/**
 * test/privileges/token-userns.c, compiled, and tried once: a kernel without BPF tokens
 * (before 6.9) refuses to mount bpffs in a user namespace or the delegate_* options, and
 * the helper says which step failed.
 */
function buildTokenHelper(): { path: string; dir: string; skip?: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-token-${process.pid}-`));
  fs.chmodSync(dir, 0o755);
  const helper = path.join(dir, 'token-userns');
  const built = spawnSync('cc', ['-Wall', '-Wextra', '-Werror', '-O1', '-o', helper, path.join(__dirname, 'privileges', 'token-userns.c')], { encoding: 'utf8' });
  if (built.status !== 0) return { path: helper, dir, skip: `the token helper does not compile: ${built.stderr}` };
  const mnt = path.join(dir, 'probe');
  fs.mkdirSync(mnt);
  const tried = spawnSync(helper, [mnt, 'grep', '-q', `${mnt} .* - bpf .*delegate_cmds=`, '/proc/self/mountinfo'], { encoding: 'utf8' });
  if (tried.status !== 0) return { path: helper, dir, skip: `no BPF token here (kernel ${os.release()}): ${tried.stderr.trim() || `status ${tried.status}`}` };
  return { path: helper, dir };
}

const tokenHelper = usable && hasCommand('cc') ? buildTokenHelper() : { path: '', dir: '', skip: 'needs root and cc' };
if (tokenHelper.skip) console.warn(`privileges.test.ts: BPF token test skipped: ${tokenHelper.skip}`);
afterAll(() => {
  if (tokenHelper.dir) fs.rmSync(tokenHelper.dir, { recursive: true, force: true });
});

(usable ? describe : describe.skip)('privilege matrix: uid 65534 with exact capability sets', () => {
  const tag = `${process.pid}`;
  const ns = `ebpf-priv-${tag}`;
  const ifA = `epa${tag}`.slice(0, 15);
  const ifB = `epb${tag}`.slice(0, 15);
  const bpffsDir = `/sys/fs/bpf/ebpf-priv-${tag}`;
  const cgroup = cgroupRoot ? path.join(cgroupRoot, `ebpf-priv-${tag}`) : '';
  let tmp = '';
  let loader: BpfObject | undefined;
  let loaderLink: Link | undefined;
  let config: Record<string, unknown>;
  const results = new Map<string, Cells>();

  beforeAll(async () => {
    // The unprivileged user reads the object, the library and node_modules where they are.
    for (const file of [fixture('privileges'), DIST_INDEX, CHILD, path.dirname(require.resolve('node-gyp-build'))]) {
      if (!readableByOthers(file)) throw new Error(`${file} is not readable by uid ${NOBODY}: the matrix cannot run from here`);
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-priv-${tag}-`));
    fs.chmodSync(tmp, 0o755);
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB);
    ip('-n', ns, 'addr', 'add', '198.18.7.1/24', 'dev', ifA);
    ip('-n', ns, 'link', 'set', ifA, 'up');
    ip('-n', ns, 'link', 'set', ifB, 'up');
    const ifindex = (JSON.parse(ip('-n', ns, '-j', 'link', 'show', 'dev', ifA).toString()) as { ifindex: number }[])[0].ifindex;

    // bpffs: a directory the user owns (pins work), one it does not (pins are refused).
    fs.mkdirSync(`${bpffsDir}/mine`, { recursive: true });
    fs.mkdirSync(`${bpffsDir}/foreign`);
    fs.chmodSync(`${bpffsDir}/foreign`, 0o755);
    fs.chownSync(`${bpffsDir}/mine`, NOBODY, NOBODY);
    if (cgroup) fs.mkdirSync(cgroup);

    // The privileged loader: the tracepoint program attached, its maps pinned for the user.
    loader = BpfObject.open(fixture('privileges'));
    for (const p of loader.programs) p.autoload = p.name === 'on_getpriority';
    await loader.load();
    for (const name of ['target', 'ring', 'perf']) {
      loader.map(name).pin(`${bpffsDir}/${name}`);
      fs.chownSync(`${bpffsDir}/${name}`, NOBODY, NOBODY);
    }
    loader.map('counts').pin(`${bpffsDir}/root-only`); // mode 600, root's
    loaderLink = loader.program('on_getpriority').attach();

    config = {
      dist: DIST_INDEX,
      object: fixture('privileges'),
      pinDir: `${bpffsDir}/mine`,
      foreignDir: `${bpffsDir}/foreign`,
      shared: { target: `${bpffsDir}/target`, ring: `${bpffsDir}/ring`, perf: `${bpffsDir}/perf`, rootOnly: `${bpffsDir}/root-only` },
      cgroup,
      ifindex,
    };
  });

  afterAll(() => {
    loaderLink?.close();
    loader?.close();
    spawnSync('ip', ['netns', 'del', ns]);
    fs.rmSync(bpffsDir, { recursive: true, force: true });
    if (cgroup && fs.existsSync(cgroup)) fs.rmdirSync(cgroup);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    const report = process.env.EBPF_PRIVILEGE_MATRIX;
    if (report && results.size > 0) fs.writeFileSync(report, matrixMarkdown(results));
  });

  /** setpriv to uid/gid 65534 with exactly `caps` (inheritable, ambient and bounding sets). */
  const asNobody = (caps: string[]) => {
    const set = `-all${caps.map((c) => `,+${c}`).join('')}`;
    return ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`];
  };

  /** Runs the child in the test's network namespace (mounts untouched, unlike ip netns exec). */
  const matrix = (label: string, caps: string[], before: string[] = []): Promise<Cells> =>
    runMatrix(label, [...before, ...asNobody(caps)], config);

  const runMatrix = async (label: string, wrapper: string[], childConfig: Record<string, unknown>): Promise<Cells> => {
    const r = await runNode(CHILD, [JSON.stringify(childConfig)], { wrapper: ['nsenter', `--net=/run/netns/${ns}`, ...wrapper] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0); // no crash, whatever fails
    const cells = JSON.parse(r.stdout) as Cells;
    results.set(label, cells);
    // Every failure is typed: a BpfError with an errno name and the operation.
    for (const [name, cell] of Object.entries(cells)) {
      if (cell.ok === false) expect({ name, error: cell.name, code: cell.code }).toEqual({ name, error: 'BpfError', code: expect.stringMatching(/^E[A-Z]+$/) });
    }
    return cells;
  };

  const works = (cell: Cell) => expect(cell).toMatchObject({ ok: true });
  // sys_enter counts every thread of the child: its other threads may add a few.
  const rawTracepointCounted = (cell: Cell) => {
    works(cell);
    expect(cell.hits).toBeGreaterThanOrEqual(2);
  };
  const refused = (cell: Cell, code: string, text: string) => {
    expect(cell).toMatchObject({ ok: false, name: 'BpfError', code });
    expect(cell.message).toContain(text);
  };

  test('(a) no capabilities: every entry point fails cleanly and says what is missing', async () => {
    const c = await matrix('none', []);
    works(c.open); // parsing needs nothing
    works(c.features);
    expect(c.features).toMatchObject({ ringbuf: true, tracefs: true, bpffs: true }); // not "false" for lack of privilege
    refused(c.probe, 'EPERM', 'missing CAP_BPF');
    refused(c['load tracing'], 'EPERM', 'missing CAP_BPF, CAP_PERFMON');
    refused(c['load socket, cgroup_skb'], 'EPERM', 'missing CAP_BPF');
    refused(c['load xdp, tc'], 'EPERM', 'missing CAP_BPF, CAP_NET_ADMIN');
    for (const name of ['map CRUD', 'tracepoint attach', 'raw tracepoint attach', 'pin', 'testRun', 'cgroup attach', 'xdp attach', 'tc attach']) {
      expect({ name, ...c[name] }).toEqual({ name, skipped: true });
    }
    // A map's fd is its permission: what a privileged loader pinned for this user works.
    expect(c['pinned map CRUD']).toMatchObject({ ok: true, target: expect.any(Number) });
    expect(c['pinned ring buffer']).toMatchObject({ ok: true, records: 2 });
    // ...except a perf buffer, which opens system-wide perf events.
    refused(c['pinned perf buffer'], 'EACCES', 'missing CAP_PERFMON: perfBuffer needs CAP_PERFMON');
    refused(c['openPinned (a root-only pin)'], 'EACCES', 'bpffs pins are files');
    refused(c['trace pipe'], 'EACCES', 'tracefs is readable by root only');
  });

  test('(b) CAP_BPF + CAP_PERFMON: tracing works; networking and cgroups need CAP_NET_ADMIN', async () => {
    const c = await matrix('BPF+PERFMON', ['bpf', 'perfmon']);
    for (const name of ['open', 'features', 'load tracing', 'ring buffer', 'perf buffer', 'load socket, cgroup_skb']) works(c[name]);
    expect(c.probe).toMatchObject({ ok: true, hash: true, socket: true });
    expect(c['map CRUD']).toMatchObject({ ok: true, got: '5', after: false });
    rawTracepointCounted(c['raw tracepoint attach']); // getpriority() and the link's close(), at least
    // The tracepoint's id is read from tracefs, root's only here (see the stand-in test below).
    refused(c['tracepoint attach'], 'EACCES', 'cannot read /sys/kernel/tracing/events/syscalls/sys_enter_getpriority/id: tracefs is readable by root only');
    expect(c.pin).toMatchObject({ ok: true, seen: true });
    refused(c['pin (directory of another user)'], 'EACCES', 'needs write permission on the directory of the pin');
    expect(c['pinned perf buffer']).toMatchObject({ ok: true, records: 1 });
    expect(c.testRun).toMatchObject({ ok: true, retval: 50 }); // skb->len of 64 bytes less the Ethernet header
    refused(c['cgroup attach'], 'EPERM', 'missing CAP_NET_ADMIN: attachCgroup needs CAP_NET_ADMIN');
    refused(c['load xdp, tc'], 'EPERM', 'missing CAP_NET_ADMIN: loading this object needs CAP_BPF and CAP_NET_ADMIN');
  });

  test('(c) CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN: XDP and tcx on a veth, cgroup attach', async () => {
    const c = await matrix('BPF+PERFMON+NET_ADMIN', ['bpf', 'perfmon', 'net_admin']);
    expect(c['cgroup attach']).toMatchObject(cgroup ? { ok: true, type: 'cgroup' } : { ok: false });
    works(c['load xdp, tc']);
    expect(c['xdp attach']).toMatchObject({ ok: true, type: 'xdp' });
    expect(c['tc attach']).toMatchObject({ ok: true, type: 'tcx' });
    rawTracepointCounted(c['raw tracepoint attach']);
    refused(c['trace pipe'], 'EACCES', 'tracefs is readable by root only');
  });

  test('(d) CAP_BPF alone: maps, socket filters and cgroup_skb load; tracing needs CAP_PERFMON', async () => {
    const c = await matrix('BPF', ['bpf']);
    expect(c.probe).toMatchObject({ ok: true, hash: true, socket: true });
    refused(c['load tracing'], 'EPERM', 'missing CAP_PERFMON: loading this object needs CAP_BPF and CAP_PERFMON');
    works(c['load socket, cgroup_skb']);
    expect(c.testRun).toMatchObject({ ok: true, retval: 50 }); // skb->len of 64 bytes less the Ethernet header
    refused(c['cgroup attach'], 'EPERM', 'missing CAP_NET_ADMIN');
    refused(c['load xdp, tc'], 'EPERM', 'missing CAP_NET_ADMIN');
    refused(c['pinned perf buffer'], 'EACCES', 'missing CAP_PERFMON');
    expect(c['pinned ring buffer']).toMatchObject({ ok: true, records: 2 });
  });

  test('(b) with tracefs readable: tracepoint attach, ring and perf buffers deliver the events', async () => {
    // tracefs is one superblock for the whole machine: its mode cannot change for this test
    // alone. In a private mount namespace, a tmpfs over /sys/kernel/tracing holds what
    // libbpf reads there (the tracepoint's id, readable by all), as "mount -o gid=,mode="
    // would make it; the perf event itself is the kernel's.
    const event = 'events/syscalls/sys_enter_getpriority';
    const standIn =
      `id=$(cat /sys/kernel/tracing/${event}/id) && mount -t tmpfs -o mode=755 ebpf-priv-${tag} /sys/kernel/tracing && ` +
      `mkdir -p /sys/kernel/tracing/${event} && echo "$id" > /sys/kernel/tracing/${event}/id && exec "$0" "$@"`;
    const c = await matrix('BPF+PERFMON, tracefs readable', ['bpf', 'perfmon'], ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', standIn]);
    expect(c['tracepoint attach']).toMatchObject({ ok: true, hits: 3 });
    expect(c['ring buffer']).toMatchObject({ ok: true, records: 3 });
    expect(c['perf buffer']).toMatchObject({ ok: true, records: 3 });
  });

  // BPF token (Linux 6.9+, libbpf 1.4+): uid 65534 as root of its own user namespace, with
  // a bpffs that delegates every command, map, program and attach type to it.
  (tokenHelper.skip ? test.skip : test)('in a user namespace, through a BPF token: loads and attaches what the bpffs delegates', async () => {
    const tokenDir = path.join(tmp, 'token');
    fs.mkdirSync(tokenDir);
    fs.chmodSync(tokenDir, 0o755);
    const c = await runMatrix('user namespace + BPF token', [tokenHelper.path, tokenDir], { ...config, tokenPath: tokenDir });
    // Without the token, root of a user namespace is nobody to BPF.
    refused(c['load without a token'], 'EPERM', 'missing CAP_BPF, CAP_PERFMON: loading this object needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) (in a user namespace, capabilities count only through a BPF token');
    refused(c.probe, 'EPERM', 'in a user namespace'); // libbpf's probes take no token
    works(c['load with LIBBPF_BPF_TOKEN_PATH']);
    works(c['load tracing']);
    expect(c['map CRUD']).toMatchObject({ ok: true, got: '5', after: false });
    rawTracepointCounted(c['raw tracepoint attach']);
    expect(c.pin).toMatchObject({ ok: true, seen: true });
    expect(c['pinned ring buffer']).toMatchObject({ ok: true, records: 2 });
    works(c['load socket, cgroup_skb']);
    expect(c.testRun).toMatchObject({ ok: true, retval: 50 });
    if (cgroup) expect(c['cgroup attach']).toMatchObject({ ok: true, type: 'cgroup' });
    works(c['load xdp, tc']);
    expect(c['xdp attach']).toMatchObject({ ok: true, type: 'xdp' });
    expect(c['tc attach']).toMatchObject({ ok: true, type: 'tcx' });
    // A token delegates BPF only: perf events (perf buffers, tracepoints) still need
    // CAP_PERFMON in the initial namespace.
    refused(c['perf buffer'], 'EACCES', 'missing CAP_PERFMON: perfBuffer needs CAP_PERFMON');
    expect(c['tracepoint attach']).toMatchObject({ ok: false, code: 'EACCES' });
  });
});

describe('OpenOptions.tokenPath', () => {
  test('a wrong tokenPath is a clear error, at open or at load', async () => {
    expect(() => BpfObject.open(fixture('privileges'), { tokenPath: 5 as unknown as string })).toThrow('options.tokenPath must be a string, got number');
    expect(() => BpfObject.open(fixture('privileges'), { tokenPath: `/nonexistent-${process.pid}` })).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('options.tokenPath: no such directory') }),
    );
    // The machine's own bpffs belongs to the initial user namespace: no token from it.
    using obj = BpfObject.open(fixture('privileges'), { tokenPath: '/sys/fs/bpf' });
    await expect(obj.load()).rejects.toMatchObject({
      code: 'EOPNOTSUPP',
      message: expect.stringContaining('no BPF token from /sys/fs/bpf: a bpffs owned by the initial user namespace makes no tokens'),
    });
  });
});

describe('readers over maps opened from a pin', () => {
  const dir = `/sys/fs/bpf/ebpf-priv-readers-${process.pid}`;
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('RingBuffer and perfBuffer() read maps from BpfMap.openPinned (no bpf_map behind them)', async () => {
    fs.mkdirSync(dir);
    using obj = BpfObject.open(fixture('privileges'));
    for (const p of obj.programs) p.autoload = p.name === 'on_getpriority';
    await obj.load();
    obj.map('target').set(0, process.pid);
    obj.map('ring').pin(`${dir}/ring`);
    obj.map('perf').pin(`${dir}/perf`);
    using ring = BpfMap.openPinned(`${dir}/ring`);
    using perf = BpfMap.openPinned(`${dir}/perf`);
    using ringReader = ring.ringBuffer();
    using perfReader = perf.perfBuffer();
    expect(() => perf.ringBuffer()).toThrow(/is not a ring buffer/);
    {
      using link = obj.program('on_getpriority').attach();
      void link;
      for (let i = 0; i < 4; i++) os.getPriority(0);
    }
    const mine = (records: Buffer[]) => records.filter((data) => data.readUInt32LE(0) === process.pid).length;
    expect(mine(ringReader.drain())).toBe(4);
    expect(mine(perfReader.drain().map((r) => (r as { data: Buffer }).data))).toBe(4);
  });
});

/** The matrix as a Markdown table, entry points down, capability sets across. */
function matrixMarkdown(results: Map<string, Cells>): string {
  const labels = [...results.keys()];
  const names = [...new Set([...results.values()].flatMap((c) => Object.keys(c)))];
  const show = (cell: Cell | undefined) => {
    if (!cell) return '';
    if (cell.skipped) return '(not loaded)';
    if (cell.ok) return 'works';
    return `${cell.code}: ${String(cell.message).replace(/\|/g, '\\|')}`;
  };
  const rows = names.map((n) => `| ${n} | ${labels.map((l) => show(results.get(l)?.[n])).join(' | ')} |`);
  return [`| entry point | ${labels.join(' | ')} |`, `|---|${labels.map(() => '---').join('|')}|`, ...rows, ''].join('\n');
}
