// The packed package installs and works where there is no compiler and no libbpf: a
// Debian 12 minimal chroot with only libelf1, zlib1g and libzstd1 added (scripts/
// packed-install.sh). The install runs no scripts, so the addon must come from prebuilds/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT } from './helpers/kernel';

interface Smoke {
  node: string;
  libbpf: string;
  addons: string[];
  pid: number;
  records: { tgid: number; seq: number }[];
}

function packedInstall(): Promise<{ code: number | null; pid: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(ROOT, 'scripts', 'packed-install.sh')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, pid: child.pid ?? 0, stdout, stderr }));
  });
}

describe('npm pack, then install with --ignore-scripts in a chroot without a compiler or libbpf', () => {
  // The first run makes the cached Debian base system (debootstrap, a minute or two).
  test('loads the prebuild, attaches a tracepoint and reads its events from the ring buffer', async () => {
    const { code, pid, stdout, stderr } = await packedInstall();
    if (code !== 0) throw new Error(`scripts/packed-install.sh exited with ${code}:\n${stderr}\n${stdout}`);
    const smoke = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Smoke;
    expect(smoke.node).toBe(process.version);
    // Not built at install: the committed prebuild, with the pinned libbpf in it.
    expect(smoke.addons).toEqual(['/app/node_modules/ebpf/prebuilds/linux-x64/ebpf.glibc.node']);
    expect(smoke.libbpf).toBe('v1.5');
    // Exactly the ten getpriority() calls the chrooted process made, in order.
    expect(smoke.records).toEqual(Array.from({ length: 10 }, (_, i) => ({ tgid: smoke.pid, seq: i + 1 })));
    // Nothing left mounted or on disk.
    const work = `/tmp/ebpf-packed-${pid}`;
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(work);
    expect(fs.existsSync(work)).toBe(false);
  }, 600000);
});
