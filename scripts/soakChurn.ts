/**
 * npm run soak:churn [-- --pairs 6 --cycles 2000 --per-sec 125 --quiet-sec 16]
 *
 * The real agent (in this process: worker trainer, micro model, open ingest with maxStreams 8) with one real ws
 * stream, alternating quiet phases and churn phases (`cycles` clients at `per-sec`, each with a new id: connect,
 * send one frame, close). Each phase's p99 of the configured stream's embedding rounds is recorded. Pass: as ids
 * accumulate, the rounds do not slow down: the median p99 of the later half of the churn phases is within 20% of the
 * earlier half's. The churn against the quiet phases is printed too (the churn's clients share the cores, so it
 * costs something; the check is that the cost does not grow with the ids already seen).
 * Timings need a quiet machine: the load average is printed beside them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent } from '../src/agent/Agent';
import { createLogger } from '../src/util/Logger';
import { median } from '../src/util/median';
import { arg, table } from './benchCommon';
import { churn, churnAgentConfig, churnFrame, openSocket, roundTimes } from './streamChurn';

const SIZE = 128;
const MAX_STREAMS = 8;
const BUFFER = 64;
const CHURNERS = 6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const pairs = Number(arg('pairs', '6'));
  const cycles = Number(arg('cycles', '2000'));
  const perSec = Number(arg('per-sec', '125'));
  const quietSec = Number(arg('quiet-sec', '16'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-soak-churn-'));
  const agent = new Agent(churnAgentConfig({ dir, size: SIZE, maxStreams: MAX_STREAMS, buffer: BUFFER, churners: CHURNERS }), createLogger('warn', 'json'));
  const started = new Date();
  const load0 = os.loadavg()[0]!;
  try {
    const { port } = await agent.start();
    const base = `ws://127.0.0.1:${port}`;
    const real = await openSocket(`${base}/ingest/real`);
    let n = 0;
    const producer = setInterval(() => real.readyState === real.OPEN && real.send(churnFrame(SIZE, n++)), 100);
    await sleep(20_000); // the buffer fills and the detectors warm up before anything is measured
    const rounds = roundTimes(agent.registry);
    const rows: { phase: string; ids: number; p99: number; p50: number; load: number }[] = [];
    let ids = 0;
    for (let p = 0; p < pairs; p++) {
      rounds.reset();
      await sleep(quietSec * 1000);
      rows.push({ phase: `quiet ${p + 1}`, ids, p99: await rounds.p99(), p50: await rounds.p50(), load: os.loadavg()[0]! });
      rounds.reset();
      const r = await churn({ base, target: cycles, perSec, ms: (4 * cycles * 1000) / perSec, workers: CHURNERS, frame: churnFrame(SIZE, 7) });
      ids += r.cycles;
      rows.push({ phase: `churn ${p + 1}`, ids, p99: await rounds.p99(), p50: await rounds.p50(), load: os.loadavg()[0]! });
      console.log(`${rows[rows.length - 2]!.phase}: p99 ${rows[rows.length - 2]!.p99.toFixed(1)} ms; ${rows[rows.length - 1]!.phase}: p99 ${rows[rows.length - 1]!.p99.toFixed(1)} ms after ${ids} ids`);
    }
    clearInterval(producer);
    real.close();

    const busy = rows.filter((r) => r.phase.startsWith('churn')).map((r) => r.p99);
    const quiet = rows.filter((r) => r.phase.startsWith('quiet')).map((r) => r.p99);
    const half = Math.floor(busy.length / 2);
    const early = median(busy.slice(0, half));
    const late = median(busy.slice(half));
    const ok = late <= 1.2 * early;
    console.log(`\nnpm run soak:churn -- --pairs ${pairs} --cycles ${cycles} --per-sec ${perSec} --quiet-sec ${quietSec}; ${started.toISOString()}, ${os.cpus().length} cores, load average ${load0.toFixed(1)} at the start\n`);
    console.log(table(['phase', 'ids seen', 'round p99 ms', 'round p50 ms', 'load'], rows.map((r) => [r.phase, r.ids, r.p99.toFixed(1), r.p50.toFixed(1), r.load.toFixed(1)])));
    console.log(`\nchurn rounds p99, median: first ${half} phases ${early.toFixed(1)} ms, last ${busy.length - half} ${late.toFixed(1)} ms (${((late / early - 1) * 100).toFixed(0)}%); quiet phases ${median(quiet).toFixed(1)} ms`);
    console.log(`${ok ? 'PASS' : 'FAIL'}: the rounds ${ok ? 'do not slow down' : 'slow down'} as ids accumulate (limit +20%)`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await agent.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(2);
});
