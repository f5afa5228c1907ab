import * as path from 'node:path';
import { EMPTY, Observable, catchError } from 'rxjs';
import type { AgentConfig, SourceConfig } from '../../config/schema';
import type { Frame } from '../../streams/Frame';
import type { CameraState } from '../../streams/CameraState';
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

/** The configured inputs: those that pace themselves, and the pushed (ws) streams with the rate used of each. */
export interface AgentSources {
  paced: AgentSource[];
  /** Stream id -> frames per second used from what its client pushes. */
  pushed: Map<string, number>;
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

/** Stream ids made unique (cam, cam-2, ...). */
function uniqueIds(sources: SourceConfig[]): string[] {
  const seen = new Map<string, number>();
  return sources.map((s, i) => {
    const base = s.id ?? defaultSourceId(s, i);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
}

export function buildSources(cfg: AgentConfig, log: Logger): AgentSources {
  const size = cfg.train.frameSize;
  const ids = uniqueIds(cfg.sources);
  const paced: AgentSource[] = [];
  const pushed = new Map<string, number>();
  cfg.sources.forEach((s, i) => {
    const id = ids[i]!;
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
        paced.push({ id, kind: s.kind, frames$: guard(src.frames$), state$: src.state$ });
        return;
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
        paced.push({ id, kind: s.kind, frames$: guard(src.frames$), state$: src.state$ });
        return;
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
        paced.push({ id, kind: s.kind, frames$: guard(src.frames$) });
        return;
      }
      case 'ws':
        pushed.set(id, s.fps);
        return;
      case 'synthetic': {
        const cam = new SyntheticCamera({ streamId: id, width: size, height: size, fps: s.fps, seed: s.seed, sceneEverySec: s.sceneEverySec });
        paced.push({ id, kind: s.kind, frames$: guard(cam.frames$) });
        return;
      }
    }
  });
  return { paced, pushed };
}
