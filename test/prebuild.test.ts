// The committed prebuild (prebuilds/linux-x64/ebpf.glibc.node): it matches the sources it
// records, depends on no shared library beyond libc, libelf, zlib, zstd and the C++
// runtime, exports only the N-API entry points, and a package without build/ loads it.
// EBPF_PREBUILD_DIR checks another build of it (CI's rebuild) instead.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { ROOT, runNode, writeScript } from './helpers/kernel';

const DIR = path.resolve(process.env.EBPF_PREBUILD_DIR ?? path.join(ROOT, 'prebuilds', 'linux-x64'));
const PREBUILD = path.join(DIR, 'ebpf.glibc.node');
const SCRIPT = path.join(ROOT, 'scripts', 'prebuild.js');

// What the prebuild may link dynamically: libc, libelf, zlib, zstd, and the C++ runtime
// (libstdc++ with libgcc_s and libm, which every Node binary links too: see binding.gyp).
const ALLOWED = [
  'linux-vdso.so.1',
  'ld-linux-x86-64.so.2',
  'libc.so.6',
  'libelf.so.1',
  'libz.so.1',
  'libzstd.so.1',
  'libstdc++.so.6',
  'libgcc_s.so.1',
  'libm.so.6',
];

const scratch: string[] = [];
function tempDir(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-prebuild-test-${process.pid}-${tag}-`));
  scratch.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of scratch.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function checkPrebuild(script: string, dir?: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [script, '--check', ...(dir ? [dir] : [])], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('the committed prebuild', () => {
  test('was built from these sources (the recorded source hash matches)', () => {
    const record = JSON.parse(fs.readFileSync(`${PREBUILD}.json`, 'utf8')) as {
      sourceHash: string;
      inputs: { files: Record<string, string>; libbpf: string };
    };
    expect(record.sourceHash).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(record.inputs.files)).toEqual(expect.arrayContaining(['binding.gyp', 'src-native/addon.cc', 'src-native/exports.map']));
    const { status, out } = checkPrebuild(SCRIPT, DIR);
    expect(out).toContain('matches the sources');
    expect(status).toBe(0);
  });

  test('the check fails, naming the file and the fix, once a native source changes', () => {
    // A copy of what the check reads, where a source can be changed.
    const tree = tempDir('tree');
    for (const rel of ['package.json', 'binding.gyp', 'scripts', 'src-native']) {
      fs.cpSync(path.join(ROOT, rel), path.join(tree, rel), { recursive: true });
    }
    fs.cpSync(DIR, path.join(tree, 'prebuilds', 'linux-x64'), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
    const script = path.join(tree, 'scripts', 'prebuild.js');
    expect(checkPrebuild(script).status).toBe(0);

    fs.appendFileSync(path.join(tree, 'src-native', 'map.cc'), '// changed\n');
    const changed = checkPrebuild(script);
    expect(changed.status).toBe(1);
    expect(changed.out).toContain('src-native/map.cc: changed');
    expect(changed.out).toContain('run "npm run build:prebuild" and commit prebuilds/');

    // A binary that is not the one the record describes is caught too.
    fs.copyFileSync(path.join(ROOT, 'src-native', 'map.cc'), path.join(tree, 'src-native', 'map.cc'));
    expect(checkPrebuild(script).status).toBe(0);
    const binary = path.join(tree, 'prebuilds', 'linux-x64', 'ebpf.glibc.node');
    const bytes = fs.readFileSync(binary);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(binary, bytes);
    const tampered = checkPrebuild(script);
    expect(tampered.status).toBe(1);
    expect(tampered.out).toContain('is not the binary ebpf.glibc.node.json describes');
  });

  test('ldd: only libc, libelf, zlib, zstd and the C++ runtime, all found; no libbpf', () => {
    // Without LD_PRELOAD (the ASan run preloads its runtime into everything, ldd included).
    const { LD_PRELOAD: _preload, ...env } = process.env;
    const out = execFileSync('ldd', [PREBUILD], { encoding: 'utf8', env });
    const libs = out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => ({ name: path.basename(l.split(/\s+/)[0]), line: l }));
    expect(libs.filter((l) => l.line.includes('not found'))).toEqual([]);
    expect(libs.map((l) => l.name).filter((n) => !ALLOWED.includes(n))).toEqual([]);
    expect(libs.map((l) => l.name)).toEqual(expect.arrayContaining(['libc.so.6', 'libelf.so.1', 'libz.so.1']));
  });

  test('nm -D: exports only the N-API entry points, and imports nothing of libbpf', () => {
    const defined = execFileSync('nm', ['-D', '--defined-only', PREBUILD], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.trim().split(/\s+/).pop());
    expect(defined.sort()).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
    const all = execFileSync('nm', ['-D', PREBUILD], { encoding: 'utf8' });
    expect(all).not.toMatch(/\b(bpf_object__|libbpf_|btf__|ring_buffer__)/);
  });

  test('a package with prebuilds/ and no build/ loads it, with the pinned libbpf linked in', async () => {
    // The installed layout: package.json, dist/, prebuilds/, and node-gyp-build.
    const pkg = tempDir('pkg');
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    fs.cpSync(path.join(ROOT, 'dist', 'lib'), path.join(pkg, 'dist', 'lib'), { recursive: true });
    fs.cpSync(DIR, path.join(pkg, 'prebuilds', 'linux-x64'), { recursive: true });
    fs.mkdirSync(path.join(pkg, 'node_modules'));
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'node-gyp-build'), path.join(pkg, 'node_modules', 'node-gyp-build'));
    const script = writeScript(
      'load.js',
      `const ebpf = require(${JSON.stringify(path.join(pkg, 'dist', 'lib', 'index.js'))});
       const addons = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
       console.log(JSON.stringify({ libbpf: ebpf.libbpfVersion(), addons }));`,
    );
    const { code, stdout, stderr } = await runNode(script, [], { env: { EBPF_NATIVE: '' } });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // libbpf names itself "v<major>.<minor>": 1.5.0 pinned gives v1.5 (Debian 12's own is v1.1).
    const pinned = /^LIBBPF_VERSION=(\d+)\.(\d+)\./m.exec(fs.readFileSync(path.join(ROOT, 'scripts', 'libbpf.sh'), 'utf8'));
    expect(JSON.parse(stdout)).toEqual({
      libbpf: `v${pinned?.[1]}.${pinned?.[2]}`,
      addons: [path.join(fs.realpathSync(pkg), 'prebuilds', 'linux-x64', 'ebpf.glibc.node')],
    });
  });
});
