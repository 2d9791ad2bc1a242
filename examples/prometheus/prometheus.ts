#!/usr/bin/env node
// prometheus: a metrics daemon. A tracepoint program (prometheus.bpf.c) counts system calls
// by command name in a BPF map; each scrape of /metrics reads the map and serves it with
// prom-client as the counter ebpf_syscalls_total{comm="..."}.
//
//   node dist/examples/prometheus/prometheus.js [--address ADDR] --port PORT
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BpfObject } from 'ebpf';
import { Tool, untilInterrupted } from '../common/tool';

const tool: Tool = new Tool(
  'prometheus',
  `usage: prometheus [-h] [-a ADDR] -p PORT

Count system calls by command name and serve the counts for Prometheus on
http://ADDR:PORT/metrics, until Ctrl-C. A line is printed for every scrape.

  -p, --port PORT      TCP port to listen on (0: any free port; the one taken is printed)
  -a, --address ADDR   address to listen on (default 127.0.0.1)
      --object PATH    the compiled prometheus.bpf.o (default: the package's build)
  -h, --help           show this help`,
);

/** prom-client, a development dependency of this package: say how to get it when missing. */
async function promClient(): Promise<typeof import('prom-client')> {
  try {
    return await import('prom-client');
  } catch {
    throw new Error('this example needs the prom-client package: npm install prom-client');
  }
}

async function main(): Promise<void> {
  const { values } = tool.parse({
    options: {
      port: { type: 'string', short: 'p' },
      address: { type: 'string', short: 'a', default: '127.0.0.1' },
      object: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.port === undefined) tool.fail('--port is required');
  const port = tool.integer('--port', values.port, 0, 0, 65535);
  const prom = await promClient();

  using obj = BpfObject.open(tool.objectPath(values.object));
  await obj.load();
  using links = obj.attach();
  const syscalls = obj.map<{ comm: string }, bigint>('syscalls');

  const registry = new prom.Registry();
  new prom.Counter({
    name: 'ebpf_syscalls_total',
    help: 'System calls entered, by command name (raw_syscalls/sys_enter, counted in a BPF LRU hash map)',
    labelNames: ['comm'],
    registers: [registry],
    // Runs on every scrape: the map holds the running totals, so they replace the last ones.
    collect() {
      this.reset();
      for (const [key, n] of syscalls.entries({ batchSize: 512 })) this.inc({ comm: key.comm }, Number(n));
    },
  });
  new prom.Gauge({
    name: 'ebpf_syscalls_commands',
    help: 'Command names in the BPF map (at most its max_entries; the least recently used go first)',
    registers: [registry],
    collect() {
      let n = 0;
      for (const _ of syscalls.keys()) n++;
      this.set(n);
    },
  });

  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
        process.stdout.write(`${new Date().toTimeString().slice(0, 8)} scrape from ${req.socket.remoteAddress}: ${text.length} bytes\n`);
      },
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, values.address, resolve);
  });
  const { address, port: bound } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  process.stdout.write(`Listening on http://${host}:${bound}/metrics. Ctrl-C to end.\n`);

  const signal = untilInterrupted();
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  links.close();
  process.stdout.write('Stopped serving; detached.\n');
}

tool.run(main);
