import * as path from 'node:path';
import { EMPTY, Observable, catchError, merge } from 'rxjs';
import { DEFAULT_SOURCE_FPS, type SourceConfig } from '../../config/schema';
import type { Frame } from '../../streams/Frame';
import type { CameraState } from '../../streams/CameraState';
import type { Polygon } from '../../streams/Mask';
import type { Logger } from '../util/Logger';
import { FfmpegSource } from '../../streams/sources/FfmpegSource';
import { ImageFolderSource } from '../../streams/sources/ImageFolderSource';
import { SyntheticCamera } from '../../streams/sources/SyntheticCamera';

/** One configured input that paces itself (camera, file, image folder, synthetic camera), ready to subscribe to. */
export interface AgentSource {
  id: string;
  kind: Exclude<SourceConfig['kind'], 'ws'>;
  /** Never errors: a source that fails for good logs it and completes, the others carry on. */
  frames$: Observable<Frame>;
  state$?: Observable<CameraState>;
}

/**
 * The agent's inputs as its data path reads them (SourceSet: configured, added and removed at run time): the
 * frames of the sources that pace themselves, each already masked, their camera states, and for pushed (ws)
 * streams the rate used of each and its mask.
 */
export interface AgentSources {
  frames$: Observable<Frame>;
  states$: Observable<CameraState>;
  /** Frames per second used from what a pushed stream's client sends; undefined when no ws source declares it. */
  pushedFps(streamId: string): number | undefined;
  /** The mask of a pushed stream (empty: none). */
  maskOf(streamId: string): readonly Polygon[];
  /** The fastest rate of any source, for the fair mixer's round. */
  readonly maxFps: number;
}

/** A readable default stream id: the file name, or host and path of a URL. */
export function defaultSourceId(s: SourceConfig, index: number): string {
  const clean = (x: string) => x.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64) || `source${index}`;
  switch (s.kind) {
    case 'url': {
      try {
        const u = new URL(s.url);
        return clean(`${u.hostname}${u.pathname}`);
      } catch {
        return `source${index}`;
      }
    }
    case 'file':
    case 'folder':
      return clean(path.basename(s.path, path.extname(s.path)));
    case 'ws':
      return s.id;
    case 'synthetic':
      return 'synthetic';
  }
}

/** A source that paces itself, as the agent runs it: frames scaled to size x size (masks are applied after it). */
export function buildPacedSource(s: Exclude<SourceConfig, { kind: 'ws' }>, id: string, size: number, log: Logger): AgentSource {
  const guard = (frames$: Observable<Frame>) =>
    frames$.pipe(
      catchError((e: unknown) => {
        log.error({ streamId: id, err: e instanceof Error ? e.message : String(e) }, 'source stopped');
        return EMPTY;
      }),
    );
  switch (s.kind) {
    case 'url': {
      const src = new FfmpegSource({
        streamId: id,
        url: s.url,
        width: size,
        height: size,
        fps: s.fps,
        watchdogMs: s.watchdogSec * 1000,
        maxAttempts: s.maxAttempts ?? Infinity,
        logger: log,
      });
      return { id, kind: s.kind, frames$: guard(src.frames$), state$: src.state$ };
    }
    case 'file': {
      const src = new FfmpegSource({
        streamId: id,
        url: s.path,
        width: size,
        height: size,
        fps: s.fps,
        loop: s.loop,
        realtime: s.realtime,
        onEnd: 'complete',
        logger: log,
      });
      return { id, kind: s.kind, frames$: guard(src.frames$), state$: src.state$ };
    }
    case 'folder': {
      const src = new ImageFolderSource({
        streamId: id,
        dir: s.path,
        width: size,
        height: size,
        order: s.shuffle ? 'shuffled' : 'sorted',
        loop: s.loop,
        fps: s.fps,
        logger: log,
      });
      return { id, kind: s.kind, frames$: guard(src.frames$) };
    }
    case 'synthetic': {
      const cam = new SyntheticCamera({ streamId: id, width: size, height: size, fps: s.fps, seed: s.seed, sceneEverySec: s.sceneEverySec });
      return { id, kind: s.kind, frames$: guard(cam.frames$) };
    }
  }
}

/**
 * A fixed set of inputs without masks (benchmarks, tests): paced sources configured at up to `pacedFps`, and
 * pushed stream ids with their rates.
 */
export function fixedSources(paced: AgentSource[], pacedFps: number, pushed: ReadonlyMap<string, number> = new Map()): AgentSources {
  return {
    frames$: merge(...paced.map((s) => s.frames$)),
    states$: merge(...paced.map((s) => s.state$ ?? EMPTY)),
    pushedFps: (id) => pushed.get(id),
    maskOf: () => [],
    maxFps: Math.max(DEFAULT_SOURCE_FPS, pacedFps, ...pushed.values()),
  };
}
