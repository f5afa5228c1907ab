import * as fs from 'node:fs';
import { EMPTY, Observable, Subject, defer, from, merge, mergeMap, share, takeUntil } from 'rxjs';
import { DEFAULT_SOURCE_FPS, sourceSchema, type AgentConfig, type SourceConfig } from '../../config/schema';
import type { Frame } from '../../streams/Frame';
import type { CameraState } from '../../streams/CameraState';
import type { Polygon } from '../../streams/Mask';
import type { Logger } from '../util/Logger';
import { applyMask } from '../../streams/operators/applyMask';
import { ApiError } from '../types/ApiError';
import type { SourceControl, SourceInfo } from '../types/SourceControl';
import { buildPacedSource, defaultSourceId, type AgentSource, type AgentSources } from './buildSources';
import { readSourcesState, writeSourcesState, type SourcesChanges } from './SourcesState';
import { redactSecrets, registerSecretsOf } from '../util/redactSecrets';

interface Entry {
  id: string;
  config: SourceConfig;
  origin: 'config' | 'runtime';
  /** Undefined for pushed (ws) streams: their frames come through the ingest. */
  source?: AgentSource;
  removed$: Subject<void>;
}

const NO_MASK: readonly Polygon[] = [];

/**
 * The agent's inputs, which can change while it runs: the configured sources, less those removed and plus those
 * added at run time (both kept in the state file, so a restart keeps them). frames$ carries the frames of every
 * source that paces itself, each masked right after it; pushed (ws) streams are declared here with their rate and
 * mask. Removing a source stops it (its ffmpeg, its timers) and its frames.
 */
export class SourceSet implements SourceControl, AgentSources {
  private readonly entries = new Map<string, Entry>();
  private readonly added$ = new Subject<Entry>();
  private changes: SourcesChanges = { added: [], removed: [] };
  private busy: Promise<unknown> = Promise.resolve();
  /** Frames of the sources that pace themselves, masked. Hot: subscribe once. */
  readonly frames$: Observable<Frame>;
  /** Camera state changes of the sources that have them. */
  readonly states$: Observable<CameraState>;
  private readonly addedIds$ = new Subject<SourceInfo>();
  private readonly removedIds$ = new Subject<string>();
  /** Sources added at run time. */
  readonly added = this.addedIds$.asObservable();
  /** Ids of sources removed at run time (the agent forgets their per-stream state). */
  readonly removed$ = this.removedIds$.asObservable();

  constructor(
    private readonly cfg: AgentConfig,
    private readonly log: Logger,
    private readonly stateFile: string,
  ) {
    const paced$ = defer(() => merge(from([...this.entries.values()]), this.added$)).pipe(mergeMap((e) => (e.source ? [{ e, source: e.source }] : [])));
    this.frames$ = paced$.pipe(
      mergeMap(({ e, source }) => source.frames$.pipe(applyMask<Frame>(e.config.mask ?? NO_MASK), takeUntil(e.removed$))),
      share(),
    );
    this.states$ = paced$.pipe(
      mergeMap(({ e, source }) => (source.state$ ?? EMPTY).pipe(takeUntil(e.removed$))),
      share(),
    );
  }

  pushedFps(streamId: string): number | undefined {
    const c = this.entries.get(streamId)?.config;
    return c?.kind === 'ws' ? c.fps : undefined;
  }

  maskOf(streamId: string): readonly Polygon[] {
    return this.entries.get(streamId)?.config.mask ?? NO_MASK;
  }

  get maxFps(): number {
    return Math.max(DEFAULT_SOURCE_FPS, ...[...this.entries.values()].map((e) => e.config.fps));
  }

  /** Ids of the pushed (ws) streams. */
  pushedIds(): string[] {
    return [...this.entries.values()].filter((e) => e.config.kind === 'ws').map((e) => e.id);
  }

  /**
   * Reads the state file and builds the starting set: configured sources less the removed ones, plus the added
   * ones. A state file that fails its schema is reported and set aside (renamed), and the configured sources run.
   */
  open(): void {
    try {
      this.changes = readSourcesState(this.stateFile);
    } catch (e) {
      const aside = `${this.stateFile}.invalid-${Date.now()}`;
      this.log.error({ err: (e as Error).message, movedTo: aside }, 'sources: the state file is invalid; starting from the configured sources');
      try {
        fs.renameSync(this.stateFile, aside);
      } catch {
        /* left where it is */
      }
      this.changes = { added: [], removed: [] };
    }
    const removed = new Set(this.changes.removed);
    this.cfg.sources.forEach((c, i) => {
      const id = this.freeId(c.id ?? defaultSourceId(c, i));
      if (removed.has(id)) return;
      this.start({ ...c, id } as SourceConfig, 'config');
    });
    for (const c of this.changes.added) {
      if (this.entries.has(c.id!)) {
        this.log.warn({ streamId: c.id }, `sources: "${c.id}" added at run time is now also configured; the configured one is used`);
        continue;
      }
      this.start(c, 'runtime');
    }
    const counts = { config: 0, runtime: 0 };
    for (const e of this.entries.values()) counts[e.origin]++;
    if (this.changes.added.length + this.changes.removed.length > 0) {
      this.log.info(
        {},
        `sources: ${counts.config} configured, ${counts.runtime} added at run time, ${this.changes.removed.length} removed at run time (state file ${this.stateFile})`,
      );
    }
  }

  private freeId(base: string): string {
    if (!this.entries.has(base)) return base;
    for (let n = 2; ; n++) if (!this.entries.has(`${base}-${n}`)) return `${base}-${n}`;
  }

  private start(config: SourceConfig, origin: Entry['origin']): Entry {
    const id = config.id!;
    registerSecretsOf(config); // sources added at run time or read from the state file: their camera passwords too
    const source = config.kind === 'ws' ? undefined : buildPacedSource(config, id, this.cfg.train.frameSize, this.log);
    const entry: Entry = { id, config, origin, source, removed$: new Subject<void>() };
    this.entries.set(id, entry);
    return entry;
  }

  /** The sources, as the configuration and the API describe them. */
  list(): SourceInfo[] {
    return [...this.entries.values()].map((e) => this.info(e));
  }

  /** The camera URL of a url source (for the live view), undefined for other kinds. */
  urlOf(id: string): string | undefined {
    const c = this.entries.get(id)?.config;
    return c?.kind === 'url' ? c.url : undefined;
  }

  private info(e: Entry): SourceInfo {
    const config: Record<string, unknown> = { ...e.config };
    if (e.config.kind === 'url') config['url'] = redactSecrets(e.config.url);
    return { id: e.id, kind: e.config.kind, origin: e.origin, config, mask: e.config.mask ?? [], live: e.config.kind === 'url' };
  }

  add(spec: unknown): Promise<SourceInfo> {
    return this.serial(async () => {
      const r = sourceSchema.safeParse(spec);
      if (!r.success) {
        const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`);
        throw new ApiError(400, 'bad_source', `invalid source: ${problems.join('; ')}`, problems);
      }
      const c = r.data;
      if ((c.kind === 'file' || c.kind === 'folder') && !fs.existsSync(c.path)) {
        throw new ApiError(400, 'bad_source', `invalid source: path: "${c.path}" does not exist on the agent's machine`, [`path: does not exist`]);
      }
      if (c.kind === 'url' && !/^(rtsps?|https?|rtmps?|srt|udp|tcp):\/\//i.test(c.url)) {
        throw new ApiError(400, 'bad_source', 'invalid source: url: use an rtsp://, rtsps://, http(s)://, rtmp(s)://, srt://, udp:// or tcp:// URL', ['url: scheme not allowed']);
      }
      if (c.id !== undefined && this.entries.has(c.id)) {
        throw new ApiError(409, 'source_exists', `a source with id "${c.id}" already exists; remove it first or choose another id`);
      }
      const id = c.id ?? this.freeId(defaultSourceId(c, this.entries.size));
      const config = { ...c, id } as SourceConfig;
      const next: SourcesChanges = { added: [...this.changes.added, config], removed: this.changes.removed.filter((x) => x !== id) };
      await this.persist(next);
      const entry = this.start(config, 'runtime');
      this.added$.next(entry);
      const info = this.info(entry);
      this.addedIds$.next(info);
      this.log.info({ streamId: id, kind: c.kind }, `sources: added ${c.kind} source "${id}" at run time`);
      return info;
    });
  }

  remove(id: string): Promise<boolean> {
    return this.serial(async () => {
      const e = this.entries.get(id);
      if (!e) return false;
      const next: SourcesChanges =
        e.origin === 'runtime'
          ? { added: this.changes.added.filter((c) => c.id !== id), removed: this.changes.removed }
          : { added: this.changes.added, removed: [...this.changes.removed, id] };
      await this.persist(next);
      this.entries.delete(id);
      e.removed$.next();
      e.removed$.complete();
      this.removedIds$.next(id);
      this.log.info({ streamId: id }, `sources: removed "${id}" at run time`);
      return true;
    });
  }

  /** Writes the state file first: a change that cannot be persisted is refused and nothing changes. */
  private async persist(next: SourcesChanges): Promise<void> {
    try {
      await writeSourcesState(this.stateFile, next);
    } catch (e) {
      throw new ApiError(507, 'not_persisted', `the change was not made: cannot write the sources state file ${this.stateFile}: ${(e as Error).message}`);
    }
    this.changes = next;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn, fn);
    this.busy = run.catch(() => undefined);
    return run;
  }

  /** Stops every source (as unsubscribing from frames$ does). */
  stop(): void {
    for (const e of this.entries.values()) e.removed$.next();
  }
}
