import * as path from 'node:path';
import { catchError, concatMap, EMPTY, finalize, from, ignoreElements, interval, map, merge, mergeMap, Observable, tap } from 'rxjs';
import { latestPerStreamRounds } from '../../streams/operators/latestPerStreamRounds';
import { logAndSkip, thumbnail } from '../agent/agentPipeline';
import { SourceSet } from '../agent/SourceSet';
import type { AgentEvent } from '../types/messages';
import { publishFrames } from './FramePublisher';
import type { RoleContext } from './RoleContext';
import { TOPOLOGY } from './Topology';
import { encodeEvent, encodeThumbnail } from './UiFeedCodec';

/**
 * Ingest: the configured cameras, files, folders and synthetic cameras (each at its own fps, as in the
 * single-process agent), published to FRAMES; beside them the dashboard's thumbnails (core NATS, newest frame per
 * stream) and camera state changes (EVENTS). `run` tells this process's frames from an earlier run's.
 */
export function ingestRole(ctx: RoleContext, run: string): Observable<never> {
  const { config: cfg, conn, log } = ctx;
  const sources = new SourceSet(cfg, log, path.resolve(cfg.state.sourcesFile));
  sources.open();
  ctx.health.set('ingest', { ok: true, status: 'publishing', detail: { streams: sources.list().length } });
  const frames$ = sources.frames$; // masked, as in the single-process agent

  const thumbnails$ =
    cfg.embed.thumbnailFps > 0
      ? frames$.pipe(
          latestPerStreamRounds(interval(1000 / cfg.embed.thumbnailFps), (latest) => from(latest).pipe(concatMap((f) => thumbnail(f, log)))),
          tap((m) => conn.nc.publish(TOPOLOGY.thumbnail(m.streamId), encodeThumbnail(m))),
        )
      : EMPTY;

  const cameras$ = sources.states$.pipe(
    map((s): AgentEvent & { type: 'camera' } => ({ type: 'camera', streamId: s.streamId, t: s.t, state: s.state, detail: s.detail })),
    mergeMap((e) =>
      from(conn.js.publish(TOPOLOGY.events.subject(e.streamId, e.type), encodeEvent(e))).pipe(catchError(logAndSkip(log, 'warn', 'ingest: camera event not published'))),
    ),
  );

  return merge(publishFrames(frames$, { conn, run, metrics: ctx.scale, log }), thumbnails$, cameras$).pipe(
    ignoreElements(),
    finalize(() => sources.stop()),
  );
}
