// One fuzz child: runs cases [from, from + count) of one target and reports each on stdout
// ("start", "done" or "finding" lines), so that the parent knows which case a crash or a
// hang happened in. Usage: node dist/fuzz/child.js '{"target":"elf","seed":1,"from":0,"count":100}'
import { createContext } from './context';
import { Finding, describeError } from './outcome';
import { Rng } from './random';
import { TARGETS, type TargetName } from './targets';

interface ChildRequest {
  target: TargetName;
  seed: number;
  from: number;
  count: number;
  loadRate?: number;
}

function emit(kind: string, index: number, text: string): void {
  process.stdout.write(`${kind}\t${index}\t${text.replace(/[\t\n]/g, ' ')}\n`);
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2]) as ChildRequest;
  let current = -1;
  const ctx = createContext(request.loadRate ?? 0.3, (text) => emit('what', current, text));
  const run = TARGETS[request.target];
  if (!run) throw new Error(`unknown target ${request.target}`);
  for (let i = request.from; i < request.from + request.count; i++) {
    current = i;
    emit('start', i, '');
    try {
      const outcome = await run(new Rng(request.seed, i), ctx);
      emit('done', i, outcome);
    } catch (e) {
      const finding = e instanceof Finding ? e : new Finding('case', e);
      const stack = finding.cause instanceof Error ? (finding.cause.stack ?? '').split('\n').slice(1, 4).join(' | ') : '';
      emit('finding', i, `${finding.message} ${stack}`);
    }
  }
  // Unhandled rejections and exceptions left behind by a case are findings too.
  await new Promise((resolve) => setImmediate(resolve));
  process.stdout.write('end\n');
}

process.on('unhandledRejection', (e) => {
  process.stdout.write(`finding\t-1\tunhandled rejection: ${describeError(e)}\n`);
});

main().catch((e: unknown) => {
  process.stdout.write(`finding\t-1\tharness: ${describeError(e)}\n`);
  process.exitCode = 2;
});
