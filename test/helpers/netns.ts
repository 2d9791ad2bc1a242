// A veth pair between two network namespaces of the test's own, named after its pid, with
// addresses from the benchmarking ranges (198.18.0.0/15, 2001:2::/48), and traffic sent
// across it from a child process in one of them.
import { execFileSync, spawn, spawnSync } from 'node:child_process';

export class VethPair {
  /** Namespaces and interfaces: A's interface is in nsA, B's in nsB. */
  readonly nsA: string;
  readonly nsB: string;
  readonly ifA: string;
  readonly ifB: string;
  readonly addrA = '198.18.0.1';
  readonly addrB = '198.18.0.2';
  readonly addr6A = '2001:2::1';
  readonly addr6B = '2001:2::2';

  /** `label`: two or three letters that tell the test file apart in the names. */
  constructor(label: string) {
    const tag = `${label}${process.pid}`;
    this.nsA = `ebpf-${tag}-a`;
    this.nsB = `ebpf-${tag}-b`;
    this.ifA = `${tag}a`;
    this.ifB = `${tag}b`;
  }

  /** Makes the namespaces, the pair and its addresses (IPv6 without duplicate detection), all up. */
  create(): void {
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', this.nsA);
    ip('netns', 'add', this.nsB);
    ip('link', 'add', this.ifA, 'netns', this.nsA, 'type', 'veth', 'peer', 'name', this.ifB, 'netns', this.nsB);
    for (const [ns, dev, v4, v6] of [
      [this.nsA, this.ifA, this.addrA, this.addr6A],
      [this.nsB, this.ifB, this.addrB, this.addr6B],
    ]) {
      ip('-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev);
      ip('-n', ns, '-6', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  }

  /** Deletes both namespaces, and with them the pair and whatever was attached to it. */
  remove(): void {
    for (const ns of [this.nsA, this.nsB]) spawnSync('ip', ['netns', 'del', ns]);
  }

  /** `ip netns exec ns`: a wrapper for a command to run in `ns`. */
  static in(ns: string): string[] {
    return ['ip', 'netns', 'exec', ns];
  }

  /** Sends `count` UDP datagrams, one after the other, from namespace `ns` to host:port. */
  sendUdp(ns: string, host: string, port: number, count: number): void {
    const family = host.includes(':') ? 'udp6' : 'udp4';
    const script =
      `const s = require('dgram').createSocket('${family}'); let k = 0;` +
      `const go = () => s.send('x', ${port}, '${host}', (e) => { if (e) throw e; ++k < ${count} ? go() : s.close(); }); go();`;
    execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: 'pipe' });
  }

  /** Tries one TCP connection from `ns` to host:port (refused or not: one SYN goes out). */
  connectTcp(ns: string, host: string, port: number): void {
    const script = `require('net').connect(${port}, '${host}').on('error', () => {}).on('connect', function () { this.end(); });`;
    execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: 'pipe' });
  }

  /**
   * Listens on UDP `ports` of host in `ns` until `expected` datagrams have come to one of
   * them (`until` port), then resolves with the count per port.
   */
  receiveUdp(ns: string, host: string, ports: number[], until: { port: number; count: number }): { ready: Promise<void>; counts: Promise<Record<number, number>> } {
    const script =
      `const dgram = require('dgram'); const counts = {}; let bound = 0; const socks = [];` +
      `for (const p of ${JSON.stringify(ports)}) { counts[p] = 0; const s = dgram.createSocket('udp4'); socks.push(s);` +
      ` s.on('message', () => { counts[p]++; if (p === ${until.port} && counts[p] === ${until.count}) { console.log(JSON.stringify(counts)); socks.forEach((x) => x.close()); } });` +
      ` s.bind(p, '${host}', () => { if (++bound === ${ports.length}) console.log('ready'); }); }`;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let onReady: () => void;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const guard = setTimeout(() => child.kill('SIGKILL'), 30000);
    const counts = new Promise<Record<number, number>>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.startsWith('ready\n')) onReady();
      });
      child.on('close', () => {
        clearTimeout(guard);
        const last = out.trim().split('\n').pop() ?? '';
        if (last.startsWith('{')) resolve(JSON.parse(last) as Record<number, number>);
        else reject(new Error(`the receiver in ${ns} ended without its counts: ${out}`));
      });
    });
    return { ready, counts };
  }
}
