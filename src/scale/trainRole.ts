import * as path from 'node:path';
import {
  catchError, concatMap, defer, EMPTY, exhaustMap, filter, from, ignoreElements, interval, map, merge, Observable, share, switchMap, tap,
} from 'rxjs';
import { DEFAULT_SOURCE_FPS } from '../../config/schema';
import { DropCounter } from '../../streams/DropCounter';
import { ReplayBuffer } from '../../streams/ReplayBuffer';
import { doublingInterval } from '../../streams/operators/doublingInterval';
import { fairMix } from '../../streams/operators/fairMix';
import { trainingLoop } from '../../streams/operators/trainingLoop';
import { collapseEvents, logAndSkip, mixPeriodMs, statsMessage } from '../agent/agentPipeline';
import { StreamRates } from '../agent/StreamRates';
import { stepFailureHandler, TrainingFailedError } from '../agent/stepFailures';
import { CollapseMonitor } from '../detect/CollapseMonitor';
import { WorkerTrainer, type TrainerHandle } from '../train/WorkerTrainer';
import { decodeFrame } from './FrameCodec';
import { orderedMessages$ } from './jetstreamRx';
import type { RoleContext } from './RoleContext';
import { TrainerLock } from './TrainerLock';
import { TOPOLOGY } from './Topology';
import { encodeEvent, encodeStats } from './UiFeedCodec';

/**
 * The trainer: one in the whole deployment, whoever holds the trainer lock (the others stand by). It reads FRAMES
 * as it arrives (an ordered consumer: no acks, nothing held for it) into the same fair mix, replay buffer and
 * training loop as the single-process agent, publishes a teacher at the agent's refresh pace (after 5 s, then at
 * doubling intervals up to embed.teacherRefreshSec), its stats for the dashboards and collapse events, and writes
 * checkpoints where the single-process agent does. With training off it publishes the loaded teacher once.
 */
export class TrainRole {
  private trainer: TrainerHandle | null = null;
  private lock: TrainerLock | null = null;
  readonly rates = new StreamRates();
  private fail!: (e: Error) => void;
  /** Resolves when training gave up (train.maxStepFailures failed steps in a row); the process then checkpoints and exits non-zero. */
  readonly failed = new Promise<Error>((resolve) => (this.fail = resolve));

  constructor(private readonly ctx: RoleContext) {}

  run$(): Observable<never> {
    const { ctx } = this;
    ctx.health.set('train', { ok: true, status: 'standby' });
    return defer(async () => (this.lock = await TrainerLock.open(ctx.conn, ctx.config.nats.lockTtlSec, ctx.instance, ctx.log))).pipe(
      switchMap((lock) => lock.held$()),
      tap((held) => {
        ctx.scale.lockHeld.set(held ? 1 : 0);
        ctx.health.set('train', { ok: true, status: held ? 'training' : 'standby' });
      }),
      switchMap((held) => (held ? this.training$() : EMPTY)),
      ignoreElements(),
    );
  }

  private async start(): Promise<TrainerHandle> {
    if (this.trainer) return this.trainer;
    const { config: cfg, log } = this.ctx;
    this.trainer = await WorkerTrainer.start(
      {
        trainer: this.ctx.trainerOptions,
        backend: { backend: cfg.backend.name, threads: cfg.backend.threads || undefined, native: cfg.backend.native, precision: cfg.backend.precision },
        checkpoint: { dir: path.resolve(cfg.checkpoint.dir), keep: cfg.checkpoint.keep, resume: cfg.checkpoint.resume },
        init: cfg.model.init ? path.resolve(cfg.model.init) : undefined,
      },
      (m) => log.info({}, `trainer ${m}`),
    );
    const ready = this.trainer.ready;
    if (ready.resumedFrom) log.info({}, `resumed from checkpoint ${ready.resumedFrom} (step ${ready.step})`);
    return this.trainer;
  }

  private training$(): Observable<unknown> {
    const { ctx } = this;
    const { config: cfg, conn, log } = ctx;
    ctx.log.info({}, `train: holding the trainer lock (${ctx.instance})`);
    let published = -1;
    const publishTeacher = (trainer: TrainerHandle) =>
      defer(() => trainer.snapshot()).pipe(
        filter((snap) => snap.step !== published),
        concatMap(async (snap) => {
          const p = await ctx.teachers.publish(snap, cfg.model.size);
          published = snap.step;
          ctx.scale.teachersPublished.inc();
          ctx.scale.teacherStep.set({ role: 'train' }, snap.step);
          log.info({ step: p.step, bytes: p.size }, `train: published teacher ${p.name}`);
        }),
        catchError(logAndSkip(log, 'warn', 'train: teacher not published')),
      );

    return defer(() => this.start()).pipe(
      switchMap((trainer) => {
        const refreshSec = cfg.embed.teacherRefreshSec;
        const teachers$ = merge(
          publishTeacher(trainer),
          cfg.train.enabled ? doublingInterval(Math.min(5, refreshSec) * 1000, refreshSec * 1000).pipe(exhaustMap(() => publishTeacher(trainer))) : EMPTY,
        );
        const checkpoints$ = interval(cfg.checkpoint.everySec * 1000).pipe(exhaustMap(() => from(this.checkpoint())));
        return merge(teachers$, cfg.train.enabled ? this.learning$(trainer) : EMPTY, checkpoints$, interval(1000).pipe(tap(() => this.rates.tick())));
      }),
      catchError((e: unknown) => {
        log.error({ err: (e as Error).message }, 'train: the trainer failed to start');
        ctx.health.set('train', { ok: false, status: 'failed', detail: { error: (e as Error).message } });
        return EMPTY;
      }),
    );
  }

  /** FRAMES -> fair mix -> replay buffer -> training loop -> stats and collapse events on the broker. */
  private learning$(trainer: TrainerHandle): Observable<unknown> {
    const { config: cfg, conn, log, metrics } = this.ctx;
    const drops = new DropCounter();
    const collapse = new CollapseMonitor({ warmupSteps: cfg.detect.collapseWarmupSteps });
    const size = cfg.train.frameSize;
    let lastStep = trainer.ready.step;
    const frames$ = orderedMessages$(conn.js, TOPOLOGY.frames.stream, TOPOLOGY.frames.all).pipe(
      map((m) => {
        try {
          return decodeFrame(m.data);
        } catch {
          return null;
        }
      }),
      filter((f): f is NonNullable<typeof f> => f !== null && f.width === size && f.height === size),
      tap((f) => this.rates.onFrame(f)),
      share(),
    );
    return frames$.pipe(
      fairMix({ periodMs: mixPeriodMs({ maxFps: Math.max(DEFAULT_SOURCE_FPS, ...cfg.sources.map((s) => s.fps)) }), capacityPerStream: 2, counter: drops }),
      trainingLoop({
        buffer: new ReplayBuffer({ capacity: cfg.train.bufferSize, policy: cfg.train.bufferPolicy, width: size, height: size }),
        runner: trainer,
        batchSize: cfg.train.batchSize,
        updatesPerFrame: cfg.train.updatesPerFrame,
        upstreamDrops: drops,
        onStepError: stepFailureHandler({ max: cfg.train.maxStepFailures, log, onFailure: () => metrics.onStepFailure() }),
      }),
      tap((s) => this.rates.onDropped(s.dropped)),
      map((s) => statsMessage(s, this.rates.summary(), undefined)),
      tap((m) => {
        if (m.step > lastStep) this.ctx.scale.trainSteps.inc(m.step - lastStep);
        lastStep = Math.max(lastStep, m.step);
        metrics.onStats(m);
        conn.nc.publish(TOPOLOGY.stats, encodeStats(m));
      }),
      concatMap((m) => collapseEvents(collapse, m, log)),
      concatMap((e) => {
        metrics.onEvent(e);
        return from(conn.js.publish(TOPOLOGY.events.subject(TOPOLOGY.agentSubject, e.type), encodeEvent(e))).pipe(catchError(logAndSkip(log, 'warn', 'train: event not published')));
      }),
      catchError((e: unknown) => {
        log.error({ err: e instanceof Error ? e.message : String(e) }, 'training stopped');
        if (e instanceof TrainingFailedError) this.fail(e);
        return EMPTY;
      }),
    );
  }

  async checkpoint(): Promise<string | null> {
    if (!this.trainer) return null;
    try {
      const file = await this.trainer.checkpoint();
      if (file) this.ctx.log.info({}, `checkpoint written: ${file}`);
      return file;
    } catch (e) {
      this.ctx.log.error({ err: (e as Error).message }, 'checkpoint failed; the previous one is kept');
      return null;
    }
  }

  /** After the role is unsubscribed: a last checkpoint, the worker closed, the lock released. */
  async close(): Promise<void> {
    if (this.trainer) {
      await this.checkpoint();
      await this.trainer.close();
      this.trainer = null;
    }
    await this.lock?.released();
  }
}
