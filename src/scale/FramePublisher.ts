import { catchError, EMPTY, from, ignoreElements, mergeMap, Observable, tap } from 'rxjs';
import type { Frame } from '../../streams/Frame';
import type { Logger } from '../util/Logger';
import type { BrokerConnection } from './BrokerConnection';
import { encodeFrame } from './FrameCodec';
import type { ScaleMetrics } from './ScaleMetrics';
import { TOPOLOGY } from './Topology';

/** The id a frame is de-duplicated by, in FRAMES and in every message made from it. */
export const frameMsgId = (run: string, f: Frame) => `${f.streamId}:${run}:${f.index}`;

/**
 * Publishes frames to FRAMES. A frame is perishable: while the broker is away it is dropped and counted rather
 * than queued (a camera sends the next one soon), and a publish the broker does not confirm is counted too.
 * `run` makes frame ids unique across restarts of the publisher (indices start again at 0).
 */
export function publishFrames(
  frames$: Observable<Frame>,
  o: { conn: BrokerConnection; run: string; metrics: ScaleMetrics; log: Logger; concurrency?: number },
): Observable<never> {
  let warned = false;
  const publish = (f: Frame): Observable<unknown> => {
    if (!o.conn.connected) {
      o.metrics.framesUnpublished.inc({ stream: f.streamId, reason: 'broker' });
      return EMPTY;
    }
    return from(o.conn.js.publish(TOPOLOGY.frames.subject(f.streamId), encodeFrame(f), { msgID: frameMsgId(o.run, f) })).pipe(
      tap(() => o.metrics.framesPublished.inc({ stream: f.streamId })),
      catchError((e: unknown) => {
        o.metrics.framesUnpublished.inc({ stream: f.streamId, reason: 'broker' });
        if (!warned) o.log.warn({ streamId: f.streamId, err: (e as Error).message }, 'frame not published (counted in dino_scale_frames_unpublished_total)');
        warned = true;
        return EMPTY;
      }),
    );
  };
  // confirmations are awaited a few at a time; order within a stream is the order sent on the one connection
  return frames$.pipe(mergeMap(publish, o.concurrency ?? 64), ignoreElements());
}
