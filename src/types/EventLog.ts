/** The event store as its readers (the HTTP API, the client) see it; src/events implements it. */

/** The pictures an event can carry: the frame that raised it, and for drift the scene before the change. */
export type PictureName = 'snapshot' | 'before';

/** What a detector raised: any event with a stream and a time (its other fields are kept as they are). */
export interface EventInput {
  type: string;
  streamId: string;
  t: number;
}

/**
 * An event as stored and published: the detector's fields, an id, and the paths of its pictures (relative to the
 * agent's HTTP root, e.g. `/api/events/<id>/snapshot.jpg`), or why it has none.
 */
export type EventRecord<E extends EventInput = EventInput> = E & {
  id: string;
  snapshot?: string;
  before?: string;
  snapshotError?: string;
};

export interface EventQuery {
  stream?: string;
  type?: string;
  /** Only events at or after this time (ms since the epoch). */
  since?: number;
  /** Newest first, at most this many. */
  limit?: number;
}

export interface EventLog {
  list(q?: EventQuery): EventRecord[];
  get(id: string): EventRecord | undefined;
  /** The JPEG of one of an event's pictures, or undefined when there is none. */
  picture(id: string, name: PictureName): Promise<Buffer | undefined>;
}
