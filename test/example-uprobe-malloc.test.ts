// examples/uprobe-malloc against a program this test compiles with cc: it waits for a line
// on stdin, then calls malloc() and free() a known number of times.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { compileC, expectToolError, startTool } from './helpers/tool';

let bin: string;
beforeAll(() => {
  bin = compileC(
    'mallocs',
    `#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  char line[8];
  if (!fgets(line, sizeof line, stdin)) return 1;
  for (int i = 0; i < n; i++) { void *volatile p = malloc(16 + i); free(p); }
  return 0;
}
`,
  );
});

const CALLS = 1000;

/** The CALLS of `pid` in the TOTAL table. */
function total(out: string, pid: number): number {
  const table = out.slice(out.indexOf('TOTAL calls to '));
  const line = table.split('\n').find((l) => l.trimStart().startsWith(`${pid} `));
  return line ? Number(line.trim().split(/\s+/)[2]) : 0;
}

/** Starts the helper (waiting for its go line) and uprobe-malloc with `args` (and -p its pid, unless `everyone`). */
async function countCalls(args: string[], everyone = false): Promise<{ pid: number; stdout: string; code: number | null; stderr: string }> {
  // Without LD_PRELOAD: under the ASan run (scripts/asan.sh) libasan would take malloc() over.
  const { LD_PRELOAD: _preload, ...env } = process.env;
  const child: ChildProcessWithoutNullStreams = spawn(bin, [String(CALLS)], { env });
  const pid = child.pid!;
  const done = new Promise((resolve) => child.on('close', resolve));
  try {
    const tool = startTool('uprobe-malloc', [...(everyone ? [] : ['-p', String(pid)]), ...args]);
    await tool.waitFor((out) => out.includes('Ctrl-C to end.\n'));
    child.stdin.end('go\n');
    await done;
    // The live report of an interval shows the calls before Ctrl-C.
    await tool.waitFor((out) => new RegExp(`^ +${pid} mallocs +\\d+$`, 'm').test(out));
    const r = await tool.stop();
    return { pid, ...r };
  } finally {
    child.kill('SIGKILL');
  }
}

describe('examples/uprobe-malloc', () => {
  test('counts the malloc() calls of a process, live and in the totals at Ctrl-C', async () => {
    const r = await countCalls([]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`Counting calls to libc.so.6:malloc() by process ${r.pid}. Ctrl-C to end.\n`);
    expect(total(r.stdout, r.pid)).toBeGreaterThanOrEqual(CALLS); // and libc's own (stdio buffers)
    // Only that process: every row of every table is its own.
    const rows = r.stdout.split('\n').filter((l) => /^ +\d+ /.test(l));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((l) => l.trimStart().startsWith(`${r.pid} mallocs `))).toBe(true);
  });

  test('without -p, every process is counted, the helper among them', async () => {
    const r = await countCalls(['-t', '10000'], true);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Counting calls to libc.so.6:malloc(). Ctrl-C to end.\n');
    expect(total(r.stdout, r.pid)).toBeGreaterThanOrEqual(CALLS);
  });

  test('-f counts another function (free)', async () => {
    const r = await countCalls(['-f', 'free']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('TOTAL calls to libc.so.6:free()');
    expect(total(r.stdout, r.pid)).toBeGreaterThanOrEqual(CALLS);
  });

  test('an unknown function or library is a clear error', () => {
    expectToolError('uprobe-malloc', ['-f', 'no_such_function_here'], 1, "attachUprobe: No such file or directory (program 'count_call' to uprobe libc.so.6:no_such_function_here)");
    expectToolError('uprobe-malloc', ['-l', 'libnosuch.so.9'], 1, "attachUprobe: No such file or directory (program 'count_call' to uprobe libnosuch.so.9:malloc)");
    expectToolError('uprobe-malloc', ['-t', '0'], 2, "--top must be an integer from 1 to 10000, got '0'");
  });
});
