// What a fuzz child process sets up once for its cases: the fixture objects, and private
// places for what cases may create (bpffs pins, a cgroup, a uprobe target, temporary
// files), each named with the process id and removed when the child ends.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Fixture {
  name: string;
  path: string;
  bytes: Buffer;
}

export interface CaseContext {
  root: string;
  fixtures: Fixture[];
  /** bpffs directory for LIBBPF_PIN_BY_NAME maps and pins made by cases. */
  pinRoot: string;
  /** A cgroup v2 directory of our own, for attachCgroup (nothing else is attached to). */
  cgroup: string | undefined;
  /** A copy of /bin/true: uprobes go there, never on a binary others run. */
  uprobeBinary: string;
  tmp: string;
  /** Whether this process has a network namespace of its own (attachments to ifindex 1 stay here). */
  privateNet: boolean;
  /** Fraction of mutated objects that are also loaded. */
  loadRate: number;
  describe(text: string): void;
}

/** The package root: the nearest directory above `from` whose package.json is ours. */
export function packageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ebpf') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no ebpf package above ${from}`);
  }
}

/** Names of the resources a fuzz process with this pid creates (also used to clean up after a crash). */
export function privatePaths(pid: number): { pinRoot: string; cgroup: string; tmp: string } {
  return {
    pinRoot: `/sys/fs/bpf/ebpf-fuzz-${pid}`,
    cgroup: `/sys/fs/cgroup/ebpf-fuzz-${pid}`,
    tmp: `/tmp/ebpf-fuzz-${pid}`,
  };
}

export function removePrivatePaths(pid: number): void {
  const p = privatePaths(pid);
  fs.rmSync(p.pinRoot, { recursive: true, force: true });
  fs.rmSync(p.tmp, { recursive: true, force: true });
  try {
    fs.rmdirSync(p.cgroup);
  } catch {
    // not there
  }
}

export function createContext(loadRate: number, describe: (text: string) => void): CaseContext {
  const root = packageRoot(__dirname);
  const dir = path.join(root, 'build-bpf');
  const fixtures = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.bpf.o'))
    .sort()
    .map((f) => ({ name: f, path: path.join(dir, f), bytes: fs.readFileSync(path.join(dir, f)) }));
  if (fixtures.length === 0) throw new Error(`no .bpf.o in ${dir}: run npm run build:bpf`);
  const p = privatePaths(process.pid);
  fs.mkdirSync(p.pinRoot, { recursive: true });
  fs.mkdirSync(p.tmp, { recursive: true });
  let cgroup: string | undefined;
  try {
    fs.mkdirSync(p.cgroup);
    cgroup = p.cgroup;
  } catch {
    cgroup = undefined; // no cgroup v2 here: attachCgroup gets only paths that fail
  }
  const uprobeBinary = path.join(p.tmp, 'true');
  fs.copyFileSync('/bin/true', uprobeBinary);
  fs.chmodSync(uprobeBinary, 0o755);
  fs.writeFileSync(path.join(p.tmp, 'victim'), 'must survive\n');
  process.chdir(p.tmp); // relative paths given to calls land here
  const privateNet = process.env.EBPF_FUZZ_PRIVATE_NET === '1'; // set by the driver with unshare --net
  process.on('exit', () => removePrivatePaths(process.pid));
  return { root, fixtures, pinRoot: p.pinRoot, cgroup, uprobeBinary, tmp: p.tmp, privateNet, loadRate, describe };
}
