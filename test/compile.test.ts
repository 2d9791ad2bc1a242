// Inline C: BpfObject.compile() and bpf`...` compile with the real clang, load and attach
// for real; the cache is checked by counting clang's runs through a logging wrapper.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfError, BpfObject, CompileError, bpf, vmlinuxHeader } from '../lib';
import { DIST_INDEX, ROOT, getpriority, runNode, writeScript } from './helpers/kernel';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-compile-test-${process.pid}-`));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));

// Counts this process's getpriority() calls; CO-RE reads the tgid from the task_struct.
const COUNTER = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#ifndef STEP
#define STEP 1
#endif

const volatile __u32 targ_tgid = 0;
__u64 calls = 0;

SEC("tracepoint/syscalls/sys_enter_getpriority")
int count(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	if (BPF_CORE_READ(task, tgid) != targ_tgid)
		return 0;
	__sync_fetch_and_add(&calls, STEP);
	return 0;
}
`;

/** Loads and attaches a compiled counter, makes n getpriority() calls, returns what it counted. */
async function countCalls(obj: BpfObject, n: number): Promise<bigint> {
  if (obj.globals.describe().some((g) => g.name === 'targ_tgid')) obj.globals.set('targ_tgid', process.pid);
  await obj.load();
  using links = obj.attach();
  void links;
  getpriority(n);
  return obj.globals.get('calls') as bigint;
}

/** Sets environment variables for the duration of fn. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

const realClang = execFileSync('sh', ['-c', 'command -v clang-19 || command -v clang'], { encoding: 'utf8' }).trim();

describe('BpfObject.compile', () => {
  const cacheDir = path.join(TMP, 'cache');

  test('compiles C with vmlinux.h and libbpf headers; the object loads, attaches and counts', async () => {
    using obj = BpfObject.compile(COUNTER, { cacheDir });
    expect(obj.name).toBe('inline');
    expect(obj.programs.map((p) => [p.name, p.section])).toEqual([['count', 'tracepoint/syscalls/sys_enter_getpriority']]);
    expect(await countCalls(obj, 25)).toBe(25n);
  });

  test('the cache: the same source, flags and headers run clang once, in this process and the next', async () => {
    const log = path.join(TMP, 'clang.log');
    const wrapper = path.join(TMP, 'clang-wrapper.sh');
    fs.writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> '${log}'\nexec '${realClang}' "$@"\n`, { mode: 0o755 });
    const runs = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').length : 0);
    const headers = path.join(TMP, 'headers');
    fs.mkdirSync(headers);
    fs.writeFileSync(path.join(headers, 'step.h'), '#define STEP 2\n');
    const source = `#include "step.h"\n${COUNTER}`;
    const cache = path.join(TMP, 'cache-counted');
    const options = { cacheDir: cache, includeDirs: [headers] };

    const previous = process.env.EBPF_CLANG;
    process.env.EBPF_CLANG = wrapper;
    try {
      const compile = () => BpfObject.compile(source, options);
      compile().close();
      expect(runs()).toBe(1);
      using again = compile();
      expect(runs()).toBe(1); // from the cache
      expect(await countCalls(again, 10)).toBe(20n);

      BpfObject.compile(source, { ...options, cflags: ['-Wall'] }).close();
      expect(runs()).toBe(2); // other flags: another object

      fs.writeFileSync(path.join(headers, 'step.h'), '#define STEP 3\n');
      using changed = compile();
      expect(runs()).toBe(3); // a header it includes changed
      expect(await countCalls(changed, 10)).toBe(30n);
      compile().close();
      expect(runs()).toBe(3);
    } finally {
      if (previous === undefined) delete process.env.EBPF_CLANG;
      else process.env.EBPF_CLANG = previous;
    }

    // A second run of a program: a new process finds the object in the cache.
    const script = writeScript(
      'compile.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
const obj = BpfObject.compile(${JSON.stringify(source)}, ${JSON.stringify(options)});
console.log(obj.programs.map((p) => p.name).join());
obj.close();`,
    );
    const r = await runNode(script, [], { env: { EBPF_CLANG: wrapper } });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('count');
    expect(runs()).toBe(3);
  });

  test('the cache directory comes from EBPF_CACHE_DIR, then XDG_CACHE_HOME', () => {
    const fromEnv = path.join(TMP, 'env-cache');
    withEnv({ EBPF_CACHE_DIR: fromEnv }, () => BpfObject.compile(COUNTER).close());
    expect(fs.readdirSync(path.join(fromEnv, 'objects')).filter((f) => f.endsWith('.o'))).toHaveLength(1);
    const xdg = path.join(TMP, 'xdg');
    withEnv({ EBPF_CACHE_DIR: undefined, XDG_CACHE_HOME: xdg }, () => BpfObject.compile(COUNTER).close());
    expect(fs.readdirSync(path.join(xdg, 'ebpf', 'objects')).filter((f) => f.endsWith('.o'))).toHaveLength(1);
  });

  test("clang's errors become a CompileError with its diagnostics and the source lines", () => {
    const headers = path.join(TMP, 'bad-headers');
    fs.mkdirSync(headers);
    fs.writeFileSync(path.join(headers, 'broken.h'), '// a header with a mistake\nint broken = ;\n');
    const source = ['#include "vmlinux.h"', 'int f(void)', '{', '\treturn nope;', '}', ''].join('\n');
    let error: unknown;
    try {
      BpfObject.compile(source, { cacheDir: false, name: 'mistake' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CompileError);
    expect(error).toBeInstanceOf(BpfError);
    const e = error as CompileError;
    expect([e.name, e.code, e.operation]).toEqual(['CompileError', 'EINVAL', 'compile']);
    expect(e.diagnostics).toEqual([
      { file: 'mistake.bpf.c', line: 4, column: 9, severity: 'error', message: "use of undeclared identifier 'nope'", sourceLine: '\treturn nope;' },
    ]);
    expect(e.message).toBe(
      "compile: clang rejected the source (1 error)\n  mistake.bpf.c:4:9: error: use of undeclared identifier 'nope'\n        4 | \treturn nope;",
    );
    expect(e.output).toContain("mistake.bpf.c:4:9: error: use of undeclared identifier 'nope'");

    // An error inside an included header: its path, and the line read from it.
    const inHeader = (() => {
      try {
        BpfObject.compile('#include "broken.h"\n', { cacheDir: false, includeDirs: [headers] });
      } catch (x) {
        return x as CompileError;
      }
      throw new Error('compiled');
    })();
    expect(inHeader.diagnostics[0]).toMatchObject({
      file: path.join(headers, 'broken.h'),
      line: 2,
      severity: 'error',
      message: 'expected expression',
      sourceLine: 'int broken = ;',
    });
  });

  test('no clang: the error names the Debian package, or the bad EBPF_CLANG', () => {
    const empty = path.join(TMP, 'empty-path');
    fs.mkdirSync(empty);
    expect(() => withEnv({ PATH: empty, EBPF_CLANG: undefined }, () => BpfObject.compile(COUNTER, { cacheDir: false }))).toThrow(
      'compile: clang is not installed (no clang-19 or clang on PATH, and EBPF_CLANG is not set): install the Debian package clang-19',
    );
    const bad = path.join(TMP, 'no-such-clang');
    expect(() => withEnv({ EBPF_CLANG: bad }, () => BpfObject.compile(COUNTER))).toThrow(`EBPF_CLANG is set to ${bad}, which is not an executable file`);
    try {
      withEnv({ EBPF_CLANG: bad }, () => BpfObject.compile(COUNTER));
    } catch (e) {
      expect(e).toMatchObject({ name: 'BpfError', code: 'ENOENT', operation: 'compile' });
    }
  });

  test("libbpf's headers: options.includeDirs, the package's deps/, /usr/include; none: the error names libbpf-dev", async () => {
    // The library alone in a package of its own, with no deps/ beside it.
    const built = path.join(ROOT, 'deps', 'libbpf', 'install', 'include');
    const LIBBPF_HEADERS = fs.existsSync(built) ? built : '/usr/include';
    const pkg = path.join(TMP, 'package');
    fs.cpSync(path.join(ROOT, 'dist', 'lib'), path.join(pkg, 'dist', 'lib'), { recursive: true });
    fs.cpSync(path.join(ROOT, 'include'), path.join(pkg, 'include'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'ebpf' }));
    const script = writeScript(
      'headers.js',
      `const { BpfObject } = require(${JSON.stringify(path.join(pkg, 'dist', 'lib', 'index.js'))});
for (const includeDirs of [[], [${JSON.stringify(LIBBPF_HEADERS)}]]) {
  try { BpfObject.compile(${JSON.stringify(COUNTER)}, { cacheDir: false, includeDirs }).close(); console.log('compiled'); }
  catch (e) { console.log(e.code, e.message); }
}`,
    );
    const native = process.env.EBPF_NATIVE ?? path.join(ROOT, 'build', 'Release', 'ebpf.node');
    const r = await runNode(script, [], { env: { EBPF_NATIVE: native } });
    expect(r.stderr).toBe('');
    const [withoutDirs, withDirs] = r.stdout.trim().split('\n');
    if (fs.existsSync('/usr/include/bpf/bpf_helpers.h')) {
      expect(withoutDirs).toBe('compiled'); // libbpf-dev is installed
    } else {
      expect(withoutDirs).toBe(
        `ENOENT compile: libbpf's BPF headers (bpf/bpf_helpers.h) are not in options.includeDirs, ${path.join(pkg, 'deps', 'libbpf', 'install', 'include')} ` +
          'or /usr/include/bpf: install the Debian package libbpf-dev (apt-get install libbpf-dev), or pass their directory in options.includeDirs',
      );
    }
    expect(withDirs).toBe('compiled');
  });

  test('a cache directory that cannot be used says so, and how to pick another', () => {
    const file = path.join(TMP, 'not-a-directory');
    fs.writeFileSync(file, '');
    expect(() => BpfObject.compile(COUNTER, { cacheDir: path.join(file, 'cache') })).toThrow(
      new RegExp(`^compile: cannot use the cache directory ${file}/cache \\(.*ENOTDIR.*\\): set options.cacheDir or EBPF_CACHE_DIR, or cacheDir: false$`),
    );
  });

  test('bad arguments are TypeErrors naming them', () => {
    expect(() => BpfObject.compile(42 as unknown as string)).toThrow('source must be a string of C code, got number');
    expect(() => BpfObject.compile(COUNTER, { cflags: '-O2' as unknown as string[] })).toThrow("options.cflags must be an array of strings, got the string '-O2'");
    expect(() => BpfObject.compile(COUNTER, { includeDirs: [1] as unknown as string[] })).toThrow('options.includeDirs must be an array of strings');
    expect(() => BpfObject.compile(COUNTER, { name: '../x' })).toThrow('options.name must be a file-name-like string');
    expect(() => BpfObject.compile(COUNTER, { cacheDir: 1 as unknown as string })).toThrow(TypeError);
  });
});

describe('bpf`...`', () => {
  const cacheDir = path.join(TMP, 'cache-tag');

  test('compiles the template with its values, and opens it', async () => {
    const pid = process.pid;
    using obj = bpf({ cacheDir, cflags: ['-DSTEP=4'] })`
      #include "vmlinux.h"
      #include <bpf/bpf_helpers.h>
      char LICENSE[] SEC("license") = "GPL";
      __u64 calls = 0;
      SEC("tracepoint/syscalls/sys_enter_getpriority")
      int count(void *ctx)
      {
        if ((bpf_get_current_pid_tgid() >> 32) != ${pid} || !${true})
          return 0;
        __sync_fetch_and_add(&calls, STEP * ${2n});
        return 0;
      }`;
    expect(await countCalls(obj, 5)).toBe(40n);
  });

  test('the plain tag uses the default cache directory', () => {
    withEnv({ EBPF_CACHE_DIR: path.join(TMP, 'tag-env') }, () => {
      using obj = bpf`${COUNTER}`;
      expect(obj.programs.map((p) => p.name)).toEqual(['count']);
    });
    expect(fs.readdirSync(path.join(TMP, 'tag-env', 'objects')).length).toBe(2);
  });

  test('values C cannot take are refused', () => {
    expect(() => bpf`int x = ${{} as unknown as number};`).toThrow('bpf`...`: value ${0} must be a string, number, bigint or boolean, got object');
    expect(() => bpf`int x = ${1}, y = ${NaN};`).toThrow('bpf`...`: value ${1} is NaN, which C cannot spell');
    expect(() => bpf(null as unknown as object)).toThrow('bpf takes a template');
  });
});

describe('ebpf vmlinux', () => {
  const cli = path.join(ROOT, 'dist', 'lib', 'cli.js');

  test('writes the kernel types as C to stdout or -o, and that header compiles', () => {
    const header = vmlinuxHeader();
    const stdout = execFileSync(process.execPath, [cli, 'vmlinux'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    // (compared as booleans: a diff of the whole header would be megabytes)
    expect(stdout.length).toBe(header.length);
    expect(stdout === header).toBe(true);
    expect(stdout.slice(0, 200)).toMatch(/^\/\* Generated by the ebpf package from \/sys\/kernel\/btf\/vmlinux\. \*\/\n#ifndef __VMLINUX_H__\n/);
    expect(/^struct task_struct \{$/m.test(stdout)).toBe(true);
    const dir = path.join(TMP, 'cli-vmlinux');
    fs.mkdirSync(dir);
    execFileSync(process.execPath, [cli, 'vmlinux', '/sys/kernel/btf/vmlinux', '-o', path.join(dir, 'vmlinux.h')]);
    expect(fs.readFileSync(path.join(dir, 'vmlinux.h'), 'utf8') === header).toBe(true);
    // Found first on the include path: the program compiles against the CLI's header.
    using obj = BpfObject.compile(COUNTER, { cacheDir: false, includeDirs: [dir] });
    expect(obj.program('count').type).toBe('tracepoint');
  });

  test('a reader that stops early ends it quietly', () => {
    const r = spawnSync('sh', ['-c', `'${process.execPath}' '${cli}' vmlinux | head -n 2`], { encoding: 'utf8' });
    expect(r.stdout).toBe('/* Generated by the ebpf package from /sys/kernel/btf/vmlinux. */\n#ifndef __VMLINUX_H__\n');
    expect(r.stderr).toBe('');
  });

  test('a missing BTF file is an error on stderr and exit code 1', () => {
    const r = spawnSync(process.execPath, [cli, 'vmlinux', path.join(TMP, 'no-btf')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ebpf: .*no-btf/);
  });
});

describe('examples/hello-inline', () => {
  test('prints Hello, World! from bpf_printk when a shell clones', async () => {
    const tool = path.join(ROOT, 'dist', 'examples', 'hello-inline', 'hello-inline.js');
    const child = spawn(process.execPath, [tool], { env: { ...process.env, EBPF_CACHE_DIR: path.join(TMP, 'cache-example') } });
    let out = '';
    let err = '';
    const shells = new Set<number>();
    let spawner: NodeJS.Timeout | undefined;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const stop = setTimeout(() => child.kill('SIGINT'), 30000); // a safety net: the assertions below then fail
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        // The trace pipe is machine-wide and may have other readers: clone until one of ours is seen.
        if (out.includes('Ctrl-C to end.\n') && !spawner) {
          spawner = setInterval(() => shells.add(spawnSync('sh', ['-c', 'true & wait'], { stdio: 'ignore' }).pid ?? 0), 100);
        }
        if (!child.killed && [...out.matchAll(/^sh-(\d+) .*: Hello, World!$/gm)].some((m) => shells.has(Number(m[1])))) {
          clearInterval(spawner);
          child.kill('SIGINT'); // once
        }
      });
      child.on('close', (c) => {
        clearInterval(spawner);
        clearTimeout(stop);
        resolve(c);
      });
    });
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toBe('Tracing clone() with the syscalls/sys_enter_clone tracepoint. Ctrl-C to end.');
    const ours = lines.find((l) => shells.has(Number(/^sh-(\d+) /.exec(l)?.[1])));
    expect(ours).toMatch(/^sh-\d+ \[\d{3}\] \d+\.\d{6}: Hello, World!$/);
  });
});
