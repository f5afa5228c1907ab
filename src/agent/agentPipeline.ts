import {
  catchError, concatMap, defer, EMPTY, exhaustMap, filter, from, ignoreElements, interval, map, merge, Observable, of, share,
  startWith, Subject, tap,
} from 'rxjs';
import { DEFAULT_SOURCE_FPS, type AgentConfig } from '../../config/schema';
import type { Frame } from '../../streams/Frame';
import { DropCounter } from '../../streams/DropCounter';
import { ReplayBuffer } from '../../streams/ReplayBuffer';
import { throttleFps } from '../../streams/operators/throttleFps';
import { applyMask } from '../../streams/operators/applyMask';
import { fairMix } from '../../streams/operators/fairMix';
import { trainingLoop, type TrainingLoopStats } from '../../streams/operators/trainingLoop';
import { stepFailureHandler } from './stepFailures';
import { latestPerStreamRounds } from '../../streams/operators/latestPerStreamRounds';
import { doublingInterval } from '../../streams/operators/doublingInterval';
import { CollapseMonitor } from '../detect/CollapseMonitor';
import type { LiveProbe, ProbeResult } from '../probe/LiveProbe';
import type { StepResult } from '../train/Trainer';
import type { TrainerHandle } from '../train/WorkerTrainer';
import type { AgentEvent, AttentionMessage, EmbeddingMessage, StatsMessage, ThumbnailMessage } from '../types/messages';
import type { Logger } from '../util/Logger';
import type { AgentSources } from './buildSources';
import type { EmbeddingService, FrameEmbeddings } from './EmbeddingService';
import type { DetectedEvent, StreamDetectors } from './StreamDetectors';
import type { EventInput, EventRecord, PictureName } from '../types/EventLog';
import type { AgentMetrics } from './AgentMetrics';
import type { StreamRates } from './StreamRates';
import { frameJpeg } from '../../streams/frameJpeg';

/** Where the pipeline publishes: the agent's hub, which the server and the metrics read. */
export interface AgentSinks {
  embeddings: Subject<EmbeddingMessage>;
  events: Subject<AgentEvent>;
  stats: Subject<StatsMessage>;
  thumbnails: Subject<ThumbnailMessage>;
  attention: Subject<AttentionMessage>;
}

/** Fresh sinks, one Subject per kind of message. */
export function createSinks(): AgentSinks {
  return {
    embeddings: new Subject<EmbeddingMessage>(),
    events: new Subject<AgentEvent>(),
    stats: new Subject<StatsMessage>(),
    thumbnails: new Subject<ThumbnailMessage>(),
    attention: new Subject<AttentionMessage>(),
  };
}

/** Where novelty and drift events get their id and pictures before they are published (the EventStore). */
export interface EventRecorder {
  record<E extends EventInput>(event: E, pictures: Partial<Record<PictureName, Frame>>): Promise<EventRecord<E>>;
}

export interface AgentPipelineParts {
  config: AgentConfig;
  sources: AgentSources;
  /** Frames pushed to /ingest/<id> (declared ids, or any with open ingest). */
  pushed$: Observable<Frame>;
  /** Pushed streams opened by clients (open ingest), not named by any source: they are embedded in rounds apart. */
  isOpenStream?: (streamId: string) => boolean;
  /**
   * Streams to forget: those the ingest evicted (open ingest keeps at most maxStreams) and sources removed at run
   * time. Every per-stream state drops them: operators, replay buffer, detectors, rates, metric series.
   */
  forget$?: Observable<string>;
  /** Stores each novelty and drift event with its pictures before it is published; null publishes them as they are. */
  events: EventRecorder | null;
  /** The trainer worker; null runs no training and never refreshes the teacher copy. */
  trainer: TrainerHandle | null;
  /** The main-thread teacher copy, loaded. */
  teacher: EmbeddingService;
  detectors: StreamDetectors;
  probe: LiveProbe | null;
  sinks: AgentSinks;
  metrics: AgentMetrics;
  rates: StreamRates;
  log: Logger;
}

/** One embedding round: the frames, their embeddings, and the teacher step that computed them. */
export interface EmbeddedRound {
  frames: Frame[];
  out: FrameEmbeddings;
  teacherStep: number;
}

/**
 * The agent's data path, as one composition (what `dino-stream run` subscribes to):
 *
 *   sources (each at its own rate; pushed frames throttled per stream)
 *     -> { fair mix (every stream a turn per round; a flood drops its own oldest frames, counted) -> replay buffer
 *          -> training loop (one step at a time, in the worker) -> stats, collapse events }
 *        { each stream's newest frame -> embedding rounds (skipped while one runs) -> detectors -> embeddings,
 *          events, attention maps }
 *        { each stream's newest frame -> thumbnails }
 *
 * The embedding and thumbnail rounds take one frame per stream each, fair by construction; the fair mix is where
 * fairness needs a queue (what earns training steps and enters the buffer), and its rounds would only delay them.
 *   beside it: camera states -> events; trainer snapshots -> the teacher copy (and the detectors' memories);
 *   the live probe.
 *
 * Nothing is published until it is subscribed; unsubscribing stops all of it.
 */
export function agentPipeline(p: AgentPipelineParts): Observable<never> {
  const { config: cfg, trainer, teacher, detectors, sinks, metrics, rates, log } = p;
  const forget$ = p.forget$ ?? EMPTY;
  const drops = new DropCounter();
  let probeTop1: number | undefined;

  const frames$ = merge(
    p.sources.frames$, // each source masked right after it
    p.pushed$.pipe(
      throttleFps((id) => p.sources.pushedFps(id) ?? DEFAULT_SOURCE_FPS, { forget$ }),
      applyMask((id) => p.sources.maskOf(id)),
    ),
  ).pipe(
    tap((f) => rates.onFrame(f)),
    share(),
  );

  const collapse = new CollapseMonitor({ warmupSteps: cfg.detect.collapseWarmupSteps });
  const size = cfg.train.frameSize;
  const buffer = new ReplayBuffer({ capacity: cfg.train.bufferSize, policy: cfg.train.bufferPolicy, width: size, height: size });
  const training$ =
    trainer && cfg.train.enabled
      ? frames$.pipe(
          fairMix({ periodMs: mixPeriodMs(p.sources), capacityPerStream: 2, counter: drops, forget$ }),
          trainingLoop({
            buffer,
            runner: trainer,
            batchSize: cfg.train.batchSize,
            updatesPerFrame: cfg.train.updatesPerFrame,
            upstreamDrops: drops,
            onStepError: stepFailureHandler({ max: cfg.train.maxStepFailures, log, onFailure: () => metrics.onStepFailure() }),
            forget$,
          }),
          tap((s) => rates.onDropped(s.dropped)),
          map((s) => statsMessage(s, rates.summary(buffer.countsByStream()), probeTop1)),
          tap((m) => sinks.stats.next(m)),
          concatMap((m) => collapseEvents(collapse, m, log)),
          tap((e) => sinks.events.next(e)),
          // training gave up (stepFailureHandler): the error ends the pipeline, and the agent checkpoints and exits
          // non-zero for a supervisor to restart it
          tap({ error: (e: unknown) => log.error({ err: e instanceof Error ? e.message : String(e) }, 'training stopped') }),
        )
      : EMPTY;

  // Streams opened by ingest clients (open ingest) are embedded in rounds apart from the sources', at most
  // openStreamsPerRound a round, those waiting longest first. One more frame in a round costs about as much as the
  // round (measured: batch 1 -> 2 doubles it), so a crowd of client-opened ids never lengthens the sources' rounds.
  const isOpen = (f: Frame) => p.isOpenStream?.(f.streamId) ?? false;
  const firstOpen = (fresh: Frame[]) => fresh.slice(0, cfg.embed.openStreamsPerRound); // least recently taken first
  const boundOpenStreams = (fresh: Frame[]): Frame[] => [...fresh.filter((f) => !isOpen(f)), ...firstOpen(fresh.filter(isOpen))];

  let attentionDue = 0;
  let attentionTurn = 0;
  const embedRound =
    (kind: 'configured' | 'open') =>
    (frames: Frame[]): Observable<EmbeddedRound> =>
      defer(() =>
        teacher.exclusive(async () => {
          const attention = kind === 'configured' && cfg.embed.attentionEverySec > 0 && Date.now() >= attentionDue;
          if (attention) attentionDue = Date.now() + cfg.embed.attentionEverySec * 1000;
          const t0 = performance.now();
          const out = await teacher.embed(frames, { attention });
          metrics.onEmbeddingRound(kind, performance.now() - t0);
          return { frames, out, teacherStep: teacher.teacherStep };
        }),
      ).pipe(catchError(logAndSkip(log, 'error', 'embedding round failed')));
  const rounds$ = merge(
    frames$.pipe(
      filter((f) => !isOpen(f)),
      latestPerStreamRounds(interval(1000 / cfg.embed.fps), embedRound('configured'), { forget$ }),
    ),
    frames$.pipe(filter(isOpen), latestPerStreamRounds(interval(1000 / cfg.embed.fps), embedRound('open'), { forget$, select: firstOpen })),
  );
  const embedding$ = rounds$.pipe(
    concatMap((round) =>
      defer(() =>
        merge(
          from(scoreRound(round, detectors, metrics)).pipe(concatMap((m) => ('detected' in m ? stored(m.detected, p.events) : of(m)))),
          round.out.attention ? attentionMessage(round, round.out.attention, attentionTurn++, teacher) : EMPTY,
        ),
      ).pipe(catchError(logAndSkip(log, 'error', 'embedding round failed'))),
    ),
    tap((m) => publish(m, sinks)),
  );

  const thumbnails$ =
    cfg.embed.thumbnailFps > 0
      ? frames$.pipe(
          latestPerStreamRounds(interval(1000 / cfg.embed.thumbnailFps), (latest) => from(latest).pipe(concatMap((f) => thumbnail(f, log))), {
            forget$,
            select: boundOpenStreams,
          }),
          tap((m) => sinks.thumbnails.next(m)),
        )
      : EMPTY;

  const cameras$ = p.sources.states$.pipe(
    tap((s) => rates.onState(s)),
    map((s): AgentEvent => ({ type: 'camera', streamId: s.streamId, t: s.t, state: s.state, detail: s.detail })),
    tap((e) => sinks.events.next(e)),
  );

  // The teacher moves fastest early in training: refresh after 5 s, then at doubling intervals up to the setting.
  const refreshSec = cfg.embed.teacherRefreshSec;
  const teacherRefresh$ = trainer
    ? doublingInterval(Math.min(5, refreshSec) * 1000, refreshSec * 1000).pipe(
        exhaustMap(() =>
          defer(() => trainer.snapshot()).pipe(
            filter((snap) => snap.step !== teacher.teacherStep),
            // one exclusive step, so that no embedding round sees the new teacher against memories of the old one
            concatMap((snap) =>
              teacher.exclusive(async () => {
                teacher.load(snap);
                await detectors.reembed(async (frames) => (await teacher.embed(frames)).normalized, teacher.teacherStep);
                return snap.step;
              }),
            ),
            tap((step) => metrics.onTeacher(step)),
            catchError(logAndSkip(log, 'warn', 'teacher refresh failed')),
          ),
        ),
      )
    : EMPTY;

  const probe = p.probe;
  const probe$ = probe
    ? interval(cfg.probe.everySec * 1000).pipe(
        startWith(-1), // the random-init or resumed baseline, so the curve starts at once
        exhaustMap(() => probeRound(probe, teacher).pipe(catchError(logAndSkip(log, 'warn', 'probe round failed')))),
        tap((r) => {
          probeTop1 = r.top1 / 100; // a fraction, as the dashboard and the Prometheus gauge read it
          metrics.onProbe(probeTop1);
          log.info({}, `probe: k-NN top-1 ${r.top1.toFixed(1)} % with the teacher of step ${r.teacherStep} (${r.ms} ms)`);
        }),
      )
    : EMPTY;

  // The state outside the operators: detectors, per-stream rates and drops, metric series.
  const forgotten$ = forget$.pipe(
    tap((id) => {
      detectors.forget(id);
      rates.forget(id);
      drops.remove(id);
      metrics.removeStream(id);
    }),
  );

  return merge(training$, embedding$, thumbnails$, cameras$, teacherRefresh$, probe$, forgotten$).pipe(ignoreElements());
}

/**
 * The fair mixer's round: twice the fastest source (configured or added), so that every stream within its rate
 * passes (a late round leaves at most two frames queued) while one that delivers faster is capped and its excess
 * counted.
 */
export function mixPeriodMs(sources: Pick<AgentSources, 'maxFps'>): number {
  return 500 / sources.maxFps;
}

export function statsMessage(s: TrainingLoopStats<StepResult>, streams: StatsMessage['streams'], probeTop1: number | undefined): StatsMessage {
  const r = s.stats;
  return {
    t: Date.now(),
    step: r.step + 1,
    loss: r.loss,
    lossOverLnK: r.lossOverLnK,
    teacherEntropy: r.teacherEntropy,
    embeddingStd: r.embeddingStd,
    healthyStd: r.healthyStd,
    lnOutDim: r.lnOutDim,
    lr: r.lr,
    momentum: r.momentum,
    teacherTemp: r.teacherTemp,
    stepMs: s.stepMs,
    imagesPerSec: s.imagesPerSec,
    streams,
    bufferSize: s.bufferSize,
    ...(probeTop1 !== undefined ? { probeTop1 } : {}),
  };
}

/** The collapse monitor's alert (or its clearing) for one step's stats, logged loudly. */
export function collapseEvents(collapse: CollapseMonitor, m: StatsMessage, log: Logger): AgentEvent[] {
  const c = collapse.update({
    loss: m.loss,
    teacherEntropy: m.teacherEntropy,
    embeddingStd: m.embeddingStd,
    lnOutDim: m.lnOutDim,
    dim: Math.round(1 / m.healthyStd ** 2),
    step: m.step,
    t: m.t,
  });
  if (!c.event) return [];
  const e = c.event;
  if (e.active) log.warn({}, `collapse monitor: ${e.message}`);
  else log.info({}, `collapse monitor: ${e.message}`);
  const monitors = { loss: m.loss, teacherEntropy: m.teacherEntropy, embeddingStd: m.embeddingStd, lnOutDim: m.lnOutDim };
  return [{ type: 'collapse', t: m.t, state: e.active ? 'collapsed' : 'healthy', reason: e.message, step: m.step, monitors }];
}

export type Published = { embedding: EmbeddingMessage } | { event: AgentEvent } | { attention: AttentionMessage };
export type Scored = { embedding: EmbeddingMessage } | { detected: DetectedEvent };

/** The detectors' verdict on every frame of a round: its embedding message, then any novelty or drift event. */
export function scoreRound(round: EmbeddedRound, detectors: StreamDetectors, metrics: AgentMetrics): Scored[] {
  const out: Scored[] = [];
  round.frames.forEach((f, i) => {
    const embedding = round.out.normalized[i]!;
    const { novelty, events } = detectors.observe(f, embedding, round.teacherStep);
    metrics.onNovelty(f.streamId, novelty.calibrated);
    out.push({
      embedding: {
        streamId: f.streamId,
        t: f.t,
        frameIndex: f.index,
        teacherStep: round.teacherStep,
        dim: embedding.length,
        embedding,
        raw: round.out.raw[i],
        novelty: novelty.warm ? novelty.calibrated : undefined,
      },
    });
    for (const detected of events) out.push({ detected });
  });
  return out;
}

/**
 * A detector event, published only once the store has its id and its pictures are on disk (so whoever reads it
 * can fetch them at once); the store never fails it, a write it could not make is carried in `snapshotError`.
 */
function stored(d: DetectedEvent, recorder: EventRecorder | null): Observable<Published> {
  if (!recorder) return of({ event: d.event });
  return defer(() => recorder.record(d.event, d.pictures)).pipe(map((event) => ({ event })));
}

/** The round's attention map over one of its frames (each in turn), with that frame as JPEG for the overlay. */
export function attentionMessage(round: EmbeddedRound, maps: Float32Array[], turn: number, teacher: EmbeddingService): Observable<Published> {
  const i = turn % round.frames.length;
  const f = round.frames[i]!;
  const base = { streamId: f.streamId, t: f.t, frameIndex: f.index, teacherStep: round.teacherStep, grid: teacher.grid, heads: teacher.heads };
  return from(frameJpeg(f)).pipe(map((jpeg) => ({ attention: { ...base, maps: maps[i]!, jpeg } })));
}

function publish(m: Published, sinks: AgentSinks): void {
  if ('embedding' in m) sinks.embeddings.next(m.embedding);
  else if ('event' in m) sinks.events.next(m.event);
  else sinks.attention.next(m.attention);
}

export function thumbnail(f: Frame, log: Logger): Observable<ThumbnailMessage> {
  return defer(() => frameJpeg(f)).pipe(
    map((jpeg) => ({ streamId: f.streamId, t: f.t, frameIndex: f.index, width: f.width, height: f.height, jpeg })),
    catchError((e: unknown) => {
      log.warn({ streamId: f.streamId, err: e instanceof Error ? e.message : String(e) }, 'thumbnail failed');
      return EMPTY;
    }),
  );
}

/**
 * One live probe round with the teacher copy. Each batch takes the model on its own, so embedding rounds
 * interleave with a long probe; a teacher refresh in between voids the attempt, which is retried (3 attempts).
 * Unsubscribing stops it before its next batch.
 */
function probeRound(probe: LiveProbe, teacher: EmbeddingService): Observable<ProbeResult> {
  return new Observable<ProbeResult>((subscriber) => {
    let cancelled = false;
    const size = probe.imageSize;
    const embed = (images: Uint8Array[]) =>
      teacher.exclusive(async () => {
        if (cancelled) throw new Error('probe cancelled');
        const frames = images.map((rgb, index) => ({ streamId: 'probe', t: Date.now(), index, width: size, height: size, rgb }));
        return (await teacher.embed(frames)).normalized;
      });
    void (async () => {
      let r: ProbeResult | null = null;
      for (let attempt = 0; attempt < 3 && !r && !cancelled; attempt++) r = await probe.evaluate(embed, () => teacher.teacherStep);
      if (r) subscriber.next(r);
      subscriber.complete();
    })().catch((e: unknown) => subscriber.error(e));
    return () => {
      cancelled = true;
    };
  });
}

/** For catchError: log what failed and carry on without it. */
export function logAndSkip(log: Logger, level: 'warn' | 'error', what: string) {
  return (e: unknown): Observable<never> => {
    log[level]({ err: e instanceof Error ? e.message : String(e) }, what);
    return EMPTY;
  };
}
