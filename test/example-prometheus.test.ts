// examples/prometheus: started on a free loopback port, scraped over HTTP while a program
// this test compiles (named after the test's pid) makes a known number of system calls.
import { execFileSync } from 'node:child_process';
import { compileC, expectToolError, startTool } from './helpers/tool';

const comm = `sc${process.pid}`; // its command name: unique on the machine
let bin: string;
beforeAll(() => {
  bin = compileC(
    comm,
    `#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  for (int i = 0; i < n; i++) syscall(SYS_getppid);
  return 0;
}
`,
  );
});

const SYSCALLS = 500;

/** The value of ebpf_syscalls_total for `comm` in a scrape (0 when not there). */
function syscallsOf(text: string, name: string): number {
  const m = text.match(new RegExp(`^ebpf_syscalls_total\\{comm="${name}"\\} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : 0;
}

describe('examples/prometheus', () => {
  test('serves real, increasing syscall counters on /metrics over loopback; SIGTERM stops it cleanly', async () => {
    const tool = startTool('prometheus', ['--port', '0']);
    const out = await tool.waitFor((o) => /Listening on http:\/\/127\.0\.0\.1:\d+\/metrics/.test(o));
    const url = out.match(/http:\/\/127\.0\.0\.1:\d+\/metrics/)![0];
    try {
      execFileSync(bin, [String(SYSCALLS)]);
      const first = await fetch(url);
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text1 = await first.text();
      expect(text1).toContain('# TYPE ebpf_syscalls_total counter');
      const v1 = syscallsOf(text1, comm);
      expect(v1).toBeGreaterThanOrEqual(SYSCALLS); // the getppid() calls, and the loader's own
      expect(Number(text1.match(/^ebpf_syscalls_commands (\d+)$/m)![1])).toBeGreaterThanOrEqual(1);

      execFileSync(bin, [String(SYSCALLS)]);
      execFileSync(bin, [String(SYSCALLS)]);
      const v2 = syscallsOf(await (await fetch(url)).text(), comm);
      expect(v2).toBeGreaterThanOrEqual(v1 + 2 * SYSCALLS);

      expect((await fetch(url.replace('/metrics', '/'))).status).toBe(404);
      await tool.waitFor((o) => (o.match(/ scrape from 127\.0\.0\.1: \d+ bytes$/gm) ?? []).length === 2);
    } finally {
      const r = await tool.stop('SIGTERM'); // what Kubernetes sends to stop a pod
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.trimEnd().endsWith('Stopped serving; detached.')).toBe(true);
    }
    await expect(fetch(url)).rejects.toThrow(); // nothing listens any more
  });

  test('a missing or bad port is a clear error', () => {
    expectToolError('prometheus', [], 2, '--port is required');
    expectToolError('prometheus', ['-p', '99999'], 2, "--port must be an integer from 0 to 65535, got '99999'");
  });
});
