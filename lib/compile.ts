// Inline C, bcc-style: BPF C text compiled with clang into an object, cached by content.
//
// The include path is the caller's directories, then a vmlinux.h written from the kernel's
// BTF (cached by the BTF's hash), then libbpf's BPF-side headers (bpf/bpf_helpers.h...),
// then this package's include/. A compiled object is stored under the cache directory by
// a key over the source, the flags, the clang binary and libbpf's version, beside the list
// of headers clang read and their hashes: it is used again only while they are unchanged.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from './binding';
import { type CompileDiagnostic, CompileError, bpfError } from './errors';
import { libbpfVersion, vmlinuxHeader } from './system';

export interface CompileOptions {
  /** Extra clang flags, after the defaults (`-target bpf -g -O2 -D__TARGET_ARCH_x86`), e.g. `['-DMAX=16', '-Wall']`. */
  cflags?: readonly string[];
  /** Directories searched for `#include`, before vmlinux.h and libbpf's headers. */
  includeDirs?: readonly string[];
  /**
   * Where compiled objects (and vmlinux.h) are cached; `false` compiles every time. Default:
   * $EBPF_CACHE_DIR, else $XDG_CACHE_HOME/ebpf, else ~/.cache/ebpf.
   */
  cacheDir?: string | false;
  /** The source's file name in clang's diagnostics is `${name}.bpf.c` (default "inline"). */
  name?: string;
  /** The BTF that vmlinux.h is written from (default /sys/kernel/btf/vmlinux). */
  btfPath?: string;
}

const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

// __TARGET_ARCH_* for bpf_tracing.h, by Node's process.arch.
const TARGET_ARCH: Record<string, string> = {
  x64: 'x86',
  arm64: 'arm64',
  arm: 'arm',
  s390x: 's390',
  ppc64: 'powerpc',
  riscv64: 'riscv',
  loong64: 'loongarch',
  mips64el: 'mips',
};

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** clang: $EBPF_CLANG, else clang-19 or clang on PATH. */
export function findClang(): string {
  const chosen = process.env.EBPF_CLANG;
  if (chosen) {
    if (!isExecutable(chosen)) throw bpfError('compile', 'ENOENT', `EBPF_CLANG is set to ${chosen}, which is not an executable file`);
    return chosen;
  }
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const name of ['clang-19', 'clang']) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      if (isExecutable(file)) return file;
    }
  }
  throw bpfError(
    'compile',
    'ENOENT',
    'clang is not installed (no clang-19 or clang on PATH, and EBPF_CLANG is not set): install the Debian package clang-19 ' +
      '(apt-get install clang-19), or set EBPF_CLANG to a clang with the BPF target',
  );
}

/** The cache directory options.cacheDir, $EBPF_CACHE_DIR, $XDG_CACHE_HOME or ~/.cache say. */
export function cacheDirectory(option?: string): string {
  if (option) return path.resolve(option);
  const env = process.env;
  if (env.EBPF_CACHE_DIR) return path.resolve(env.EBPF_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'ebpf');
  return path.join(os.homedir(), '.cache', 'ebpf');
}

/** The directory holding libbpf's BPF headers (bpf/bpf_helpers.h), after includeDirs. */
function libbpfHeaders(includeDirs: readonly string[]): string | undefined {
  const has = (dir: string) => fs.existsSync(path.join(dir, 'bpf', 'bpf_helpers.h'));
  if (includeDirs.some(has)) return undefined; // the caller's come first anyway
  const candidates = [path.join(packageRoot(), 'deps', 'libbpf', 'install', 'include'), '/usr/include'];
  const found = candidates.find(has);
  if (found) return found;
  throw bpfError(
    'compile',
    'ENOENT',
    `libbpf's BPF headers (bpf/bpf_helpers.h) are not in options.includeDirs, ${candidates[0]} or /usr/include/bpf: ` +
      'install the Debian package libbpf-dev (apt-get install libbpf-dev), or pass their directory in options.includeDirs',
  );
}

/** A directory holding vmlinux.h for the BTF at btfPath, written once per BTF content into `dir`. */
function vmlinuxDirectory(btfPath: string, dir: string): string {
  let btf: Buffer;
  try {
    btf = fs.readFileSync(btfPath);
  } catch (e) {
    const why = btfPath === KERNEL_BTF ? ': this kernel has no BTF (CONFIG_DEBUG_INFO_BTF is not set); pass options.btfPath' : '';
    throw bpfError('compile', 'ENOENT', `cannot read ${btfPath} for vmlinux.h (${(e as Error).message})${why}`);
  }
  const out = path.join(dir, 'vmlinux', `${sha256(btf).slice(0, 32)}-libbpf-${libbpfVersion()}`);
  const header = path.join(out, 'vmlinux.h');
  if (!fs.existsSync(header)) {
    fs.mkdirSync(out, { recursive: true });
    writeAtomically(header, vmlinuxHeader(btfPath));
  }
  return out;
}

/** Writes a file under a temporary name, then renames it: readers see all of it or none. */
function writeAtomically(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function checkStrings(value: unknown, name: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new TypeError(`${name} must be an array of strings, got ${typeof value === 'string' ? `the string '${value}'` : typeof value}`);
  }
  return value as string[];
}

/** Parses clang's "file:line:col: severity: message" lines, with the source lines they point at. */
export function parseDiagnostics(output: string, readLine: (file: string, line: number) => string | undefined): CompileDiagnostic[] {
  const diagnostics: CompileDiagnostic[] = [];
  for (const m of output.matchAll(/^(.+?):(\d+):(\d+): (fatal error|error|warning|note): (.*)$/gm)) {
    const [, file, line, column, severity, message] = m;
    diagnostics.push({
      file,
      line: Number(line),
      column: Number(column),
      severity: severity === 'fatal error' ? 'error' : (severity as CompileDiagnostic['severity']),
      message,
      sourceLine: readLine(file, Number(line)),
    });
  }
  return diagnostics;
}

function compileError(output: string, source: string, fileName: string, workDir: string): CompileError {
  const sourceLines = source.split('\n');
  const readLine = (file: string, line: number): string | undefined => {
    if (file === fileName) return sourceLines[line - 1];
    try {
      return fs.readFileSync(path.resolve(workDir, file), 'utf8').split('\n')[line - 1];
    } catch {
      return undefined;
    }
  };
  const diagnostics = parseDiagnostics(output, readLine);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  let message = `compile: clang rejected the source (${errors} error${errors === 1 ? '' : 's'})`;
  for (const d of diagnostics) {
    message += `\n  ${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`;
    if (d.sourceLine !== undefined) message += `\n    ${String(d.line).padStart(5)} | ${d.sourceLine}`;
  }
  if (diagnostics.length === 0) message += `:\n  ${output.trim().split('\n').slice(-10).join('\n  ')}`;
  return new CompileError(message, { errno: os.constants.errno.EINVAL, code: 'EINVAL', operation: 'compile', diagnostics, output });
}

interface Dependency {
  file: string;
  sha256: string;
}

/** The headers clang read (its -MD output), without the source file itself. */
function readDependencies(depFile: string, sourceFile: string): Dependency[] {
  const text = fs.readFileSync(depFile, 'utf8').replace(/\\\n/g, ' ');
  const files = text.slice(text.indexOf(':') + 1).trim().split(/\s+/).filter((f) => f && f !== sourceFile);
  return [...new Set(files)].map((file) => ({ file, sha256: sha256(fs.readFileSync(file)) }));
}

function dependenciesUnchanged(deps: Dependency[]): boolean {
  return deps.every((d) => {
    try {
      return sha256(fs.readFileSync(d.file)) === d.sha256;
    } catch {
      return false;
    }
  });
}

/** What identifies the clang binary without running it: its real path, size and modification time. */
function clangIdentity(clang: string): string {
  const real = fs.realpathSync(clang);
  const st = fs.statSync(real);
  return `${real}:${st.size}:${st.mtimeMs}`;
}

/**
 * Compiles BPF C source with clang (`-target bpf -g -O2`) and returns the object's bytes,
 * from the cache when the same source, flags, clang and headers were compiled before.
 */
export function compileSource(source: string, options: CompileOptions = {}): Buffer {
  if (typeof source !== 'string') throw new TypeError(`source must be a string of C code, got ${typeof source}`);
  const cflags = checkStrings(options.cflags, 'options.cflags');
  const includeDirs = checkStrings(options.includeDirs, 'options.includeDirs').map((d) => path.resolve(d));
  if (options.cacheDir !== undefined && options.cacheDir !== false && typeof options.cacheDir !== 'string') {
    throw new TypeError('options.cacheDir must be a directory path or false');
  }
  const name = options.name ?? 'inline';
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name)) throw new TypeError(`options.name must be a file-name-like string, got ${String(name)}`);
  const arch = TARGET_ARCH[process.arch];
  if (!arch) throw bpfError('compile', 'ENOTSUP', `no BPF target architecture is known for ${process.arch}`);

  const clang = findClang();
  const cacheDir = options.cacheDir === false ? undefined : cacheDirectory(options.cacheDir);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-compile-${process.pid}-`));
  try {
    if (cacheDir) {
      try {
        fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
        fs.accessSync(cacheDir, fs.constants.W_OK);
      } catch (e) {
        const code = ((e as NodeJS.ErrnoException).code ?? 'EACCES') as 'EACCES';
        throw bpfError('compile', code, `cannot use the cache directory ${cacheDir} (${(e as Error).message}): set options.cacheDir or EBPF_CACHE_DIR, or cacheDir: false`);
      }
    }
    const libbpf = libbpfHeaders(includeDirs);
    const includes = [
      ...includeDirs,
      vmlinuxDirectory(options.btfPath ?? KERNEL_BTF, cacheDir ?? workDir),
      ...(libbpf ? [libbpf] : []),
      path.join(packageRoot(), 'include'),
    ];
    const fileName = `${name}.bpf.c`;
    const args = ['-target', 'bpf', '-g', '-O2', `-D__TARGET_ARCH_${arch}`, '-fno-color-diagnostics', ...includes.flatMap((d) => ['-I', d]), ...cflags];

    const key = sha256(JSON.stringify({ format: 1, source, fileName, args, clang: clangIdentity(clang), libbpf: libbpfVersion() }));
    const cached = cacheDir ? path.join(cacheDir, 'objects', key) : undefined;
    if (cached && fs.existsSync(`${cached}.o`) && fs.existsSync(`${cached}.deps.json`)) {
      const deps = JSON.parse(fs.readFileSync(`${cached}.deps.json`, 'utf8')) as Dependency[];
      if (dependenciesUnchanged(deps)) return fs.readFileSync(`${cached}.o`);
    }

    fs.writeFileSync(path.join(workDir, fileName), source);
    const result = spawnSync(clang, [...args, '-MD', '-MF', 'deps.d', '-c', fileName, '-o', 'out.o'], {
      cwd: workDir,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.error) {
      const code = (result.error as NodeJS.ErrnoException).code ?? 'EIO';
      throw bpfError('compile', code as 'EIO', `cannot run ${clang}: ${result.error.message}`);
    }
    if (result.signal) throw bpfError('compile', 'EINTR', `${clang} was killed by ${result.signal}`);
    if (result.status !== 0) throw compileError(result.stderr, source, fileName, workDir);

    const object = fs.readFileSync(path.join(workDir, 'out.o'));
    if (cached) {
      fs.mkdirSync(path.dirname(cached), { recursive: true });
      writeAtomically(`${cached}.deps.json`, JSON.stringify(readDependencies(path.join(workDir, 'deps.d'), fileName)));
      writeAtomically(`${cached}.o`, object);
    }
    return object;
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
