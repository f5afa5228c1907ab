import { catchError, concatMap, EMPTY, from, ignoreElements, interval, map, merge, mergeMap, Observable, share, tap } from 'rxjs';
import { latestPerStreamRounds } from '../../streams/operators/latestPerStreamRounds';
import { logAndSkip, thumbnail } from '../agent/agentPipeline';
import { buildSources } from '../agent/buildSources';
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
  const sources = buildSources(cfg, log);
  ctx.health.set('ingest', { ok: true, status: 'publishing', detail: { streams: sources.paced.length } });
  const frames$ = merge(...sources.paced.map((s) => s.frames$)).pipe(share());

  const thumbnails$ =
    cfg.embed.thumbnailFps > 0
      ? frames$.pipe(
          latestPerStreamRounds(interval(1000 / cfg.embed.thumbnailFps), (latest) => from(latest).pipe(concatMap((f) => thumbnail(f, log)))),
          tap((m) => conn.nc.publish(TOPOLOGY.thumbnail(m.streamId), encodeThumbnail(m))),
        )
      : EMPTY;

  const cameras$ = merge(...sources.paced.map((s) => s.state$ ?? EMPTY)).pipe(
    map((s): AgentEvent & { type: 'camera' } => ({ type: 'camera', streamId: s.streamId, t: s.t, state: s.state, detail: s.detail })),
    mergeMap((e) =>
      from(conn.js.publish(TOPOLOGY.events.subject(e.streamId, e.type), encodeEvent(e))).pipe(catchError(logAndSkip(log, 'warn', 'ingest: camera event not published'))),
    ),
  );

  return merge(publishFrames(frames$, { conn, run, metrics: ctx.scale, log }), thumbnails$, cameras$).pipe(ignoreElements());
}
