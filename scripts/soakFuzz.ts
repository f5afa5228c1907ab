/**
 * npm run soak:fuzz [-- --messages 100000 --sockets 16 --per-sec 50 --good-fps 10 --model small --reference-sec 60]
 *
 * The real agent (`dino-stream run`, training on) with one well-behaved ws producer and `sockets` fuzzing ones,
 * each declared as a ws: source. Pass: the agent stays up, every hostile message is answered or became a frame,
 * its peak RSS stays under 1 GiB, and the well-behaved producer gets at least 90% of its frames through.
 * First, as a reference in the same conditions (a shared machine's load), the producer runs alone for
 * `reference-sec`: its share then says what the machine allows without the fuzzers. The event loop's delay
 * (prom-client's nodejs_eventloop_lag_*) is sampled in both phases.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { arg, table } from './benchCommon';
import { buildCorpus, fuzzSocket, goodProducer } from './ingestFuzz';

const MAX_BYTES = 4 * 1024 * 1024;

function procStatus(pid: number): { rssMb: number; hwmMb: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const messages = Number(arg('messages', '100000'));
  const sockets = Number(arg('sockets', '16'));
  const perSec = Number(arg('per-sec', '50'));
  const goodFps = Number(arg('good-fps', '10'));
  const model = arg('model', 'small');
  const perSocket = Math.ceil(messages / sockets);
  const load0 = os.loadavg()[0]!.toFixed(1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-soak-fuzz-'));
  const config = path.join(dir, 'config.json');
  const ids = Array.from({ length: sockets }, (_, i) => `fuzz${i}`);
  fs.writeFileSync(
    config,
    JSON.stringify({
      model: { size: model },
      sources: [{ kind: 'ws', id: 'good' }, ...ids.map((id) => ({ kind: 'ws', id }))],
      // No idle timeout: a fuzzer whose messages seldom decode would be closed as idle (by design, tested on its
      // own), and the messages in flight then would have no answer to count.
      server: { port: 0, maxIngestConnections: sockets + 1, maxConnectionsPerAddress: sockets + 8, ingestIdleSec: 0 },
      checkpoint: { dir: path.join(dir, 'ckpt') },
      log: { format: 'json', statusEverySec: 30 },
    }),
  );
  const cli = path.resolve(__dirname, '../src/cli.js');
  const agent = spawn(process.execPath, [cli, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => agent.kill('SIGKILL')); // a failed run must not leave the agent behind
  let exited: number | null | undefined;
  agent.on('exit', (code) => (exited = code));
  const errorLines: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /dashboard http:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
        if (m) resolve(Number(m[1]));
        if (/"level":(50|60)/.test(line)) errorLines.push(line.slice(0, 300));
      }
    };
    agent.stdout.on('data', onData);
    agent.stderr.on('data', onData);
    agent.once('exit', (code) => reject(new Error(`agent exited (${code}) before listening`)));
  });
  const base = `127.0.0.1:${port}`;
  console.log(`agent pid ${agent.pid} on ${base}; ${sockets} fuzz sockets x ${perSocket} messages at ${perSec}/s, good producer at ${goodFps} fps`);

  let metricsAt = 0;
  let metricsText = '';
  let scrapeRetries = 0;
  // A kept-alive connection the server is closing just then resets the request: try again on a new one.
  const scrape = async (): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await (await fetch(`http://${base}/metrics`)).text();
      } catch (e) {
        if (attempt >= 3) throw e;
        scrapeRetries++;
      }
    }
  };
  const framesOf = async (id: string) => {
    if (Date.now() - metricsAt > 500) {
      metricsAt = Date.now();
      metricsText = await scrape();
    }
    return Number(new RegExp(`^dino_serve_ingest_frames_total\\{stream="${id}"\\} (\\d+)`, 'm').exec(metricsText)?.[1] ?? 0);
  };

  const rssSamples: number[] = [];
  const sampler = setInterval(() => {
    const s = procStatus(agent.pid!);
    if (s) rssSamples.push(s.rssMb);
  }, 1000);
  const lag = { p99: 0, max: 0 };
  const sampleLag = async () => {
    metricsAt = 0;
    await framesOf('good');
    const v = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(metricsText)?.[1] ?? 0);
    lag.p99 = Math.max(lag.p99, v('nodejs_eventloop_lag_p99_seconds'));
    lag.max = Math.max(lag.max, v('nodejs_eventloop_lag_max_seconds'));
  };
  const lagPhase = async <T>(run: Promise<T>): Promise<{ result: T; lag: { p99: number; max: number } }> => {
    Object.assign(lag, { p99: 0, max: 0 });
    let done = false;
    const t = (async () => {
      while (!done) {
        await sampleLag().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 5000));
      }
    })();
    const r = await run;
    done = true;
    await t;
    return { result: r, lag: { ...lag } };
  };
  const corpus = await buildCorpus();
  const referenceMs = Number(arg('reference-sec', '60')) * 1000;
  const ref = await lagPhase(goodProducer(`ws://${base}/ingest/good`, goodFps, referenceMs));
  metricsAt = 0;
  const refSent = ref.result.sent;
  const refFrames = await framesOf('good');
  await new Promise((r) => setTimeout(r, 1000)); // the server sees the reference producer leave (one producer per id)
  const t0 = Date.now();
  const durationMs = Math.max((perSocket / perSec) * 1000, Number(arg('seconds', '0')) * 1000);
  const good = goodProducer(`ws://${base}/ingest/good`, goodFps, durationMs);
  const fuzzPhase = await lagPhase(
    Promise.all(
      ids.map((id, i) => fuzzSocket({ url: `ws://${base}/ingest/${id}`, messages: perSocket, perSec, seed: 1000 + i, corpus, maxBytes: MAX_BYTES, frames: () => framesOf(id), settleMs: 30_000 })),
    ),
  );
  const fuzz = fuzzPhase.result;
  const g = await good;
  const elapsed = (Date.now() - t0) / 1000;
  clearInterval(sampler);
  metricsAt = 0;
  const goodFrames = (await framesOf('good')) - refFrames;
  const fuzzFrames = await Promise.all(ids.map((id) => framesOf(id)));
  const health = await fetch(`http://${base}/healthz`).then((r) => r.status, () => 0);
  const status = procStatus(agent.pid!);
  const alive = exited === undefined;
  agent.kill('SIGTERM');
  await new Promise((r) => (exited === undefined ? agent.once('exit', r) : r(null)));

  const sent = fuzz.reduce((a, r) => a + r.sent, 0);
  const answered = fuzz.reduce((a, r, i) => a + r.replies + fuzzFrames[i]!, 0);
  const codes: Record<string, number> = {};
  for (const r of fuzz) for (const [k, v] of Object.entries(r.repliesByCode)) codes[k] = (codes[k] ?? 0) + v;
  const closedEarly = fuzz.filter((r) => r.closed !== undefined).length;
  const peak = status?.hwmMb ?? NaN;
  const goodShare = goodFrames / g.sent;
  console.log(
    table(
      ['measure', 'value'],
      [
        ['duration', `${elapsed.toFixed(0)} s`],
        ['hostile messages sent', sent],
        ['answered with an error', fuzz.reduce((a, r) => a + r.replies, 0)],
        ['decoded into frames', fuzzFrames.reduce((a, b) => a + b, 0)],
        ['neither (vanished)', sent - answered],
        ['fuzz sockets closed by the agent', closedEarly],
        ['reference (producer alone, same agent): frames sent / through', `${refSent} / ${refFrames} (${((100 * refFrames) / refSent).toFixed(1)} %)`],
        ['well-behaved frames sent / through, beside the fuzzers', `${g.sent} / ${goodFrames} (${(100 * goodShare).toFixed(1)} %)`],
        ['event-loop delay p99 / max, reference', `${(ref.lag.p99 * 1000).toFixed(0)} / ${(ref.lag.max * 1000).toFixed(0)} ms`],
        ['event-loop delay p99 / max, fuzz', `${(fuzzPhase.lag.p99 * 1000).toFixed(0)} / ${(fuzzPhase.lag.max * 1000).toFixed(0)} ms`],
        ['/metrics scrapes retried after a reset', scrapeRetries],
        ['load average at start / end', `${load0} / ${os.loadavg()[0]!.toFixed(1)}`],
        ['agent RSS start / max sampled / peak (VmHWM)', `${rssSamples[0]?.toFixed(0)} / ${Math.max(...rssSamples).toFixed(0)} / ${peak.toFixed(0)} MB`],
        ['agent alive at the end, /healthz', `${alive}, ${health}`],
        ['error lines in the agent log', errorLines.length],
      ],
    ),
  );
  console.log(`replies by code: ${JSON.stringify(codes)}`);
  const goodCodes: Record<string, number> = {};
  for (const e of g.errors) goodCodes[String((JSON.parse(e) as { code?: string }).code)] = (goodCodes[String((JSON.parse(e) as { code?: string }).code)] ?? 0) + 1;
  console.log(`replies to the well-behaved producer: ${JSON.stringify(goodCodes)}`);
  for (const l of errorLines.slice(0, 5)) console.log(`  ${l}`);
  const pass = alive && sent === answered && closedEarly === 0 && peak < 1024 && goodShare >= 0.9;
  console.log(pass ? 'PASS' : 'FAIL');
  process.exit(pass ? 0 : 1);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
