import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Frame } from '../../streams/Frame';
import { frameJpeg } from '../../streams/frameJpeg';
import { defaultLogger, type Logger } from '../util/Logger';
import { ATOMIC_TEMP_FILE, writeFileAtomic } from '../util/writeFileAtomic';
import { diskErrorText } from './diskErrorText';
import type { EventInput, EventLog, EventQuery, EventRecord, PictureName } from '../types/EventLog';

export type { EventInput, EventQuery, EventRecord, PictureName };

/** Event ids: the event's UTC time to the millisecond, then random hex (sortable, safe in a URL and a file name). */
export const EVENT_ID = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

export function newEventId(t: number): string {
  const iso = new Date(t).toISOString(); // 2026-12-07T10:15:30.123Z
  return `${iso.slice(0, 10).replace(/-/g, '')}T${iso.slice(11, 23).replace(/[:.]/g, '')}Z-${randomBytes(3).toString('hex')}`;
}

export const PICTURE_NAMES: readonly PictureName[] = ['snapshot', 'before'];

export const pictureUrl = (id: string, name: PictureName) => `/api/events/${id}/${name}.jpg`;

const recordSchema = z
  .object({
    id: z.string().regex(EVENT_ID),
    type: z.string().min(1),
    streamId: z.string().min(1),
    t: z.number().finite(),
    snapshot: z.string().optional(),
    before: z.string().optional(),
  })
  .loose();

export interface EventRetention {
  /** Events kept; the oldest go first. */
  maxCount: number;
  /** Bytes on disk (JSON and JPEGs) kept. */
  maxBytes: number;
  /** Events older than this many days are removed. */
  maxAgeDays: number;
}

export interface EventStoreOptions extends EventRetention {
  dir: string;
  jpegQuality?: number;
  log?: Logger;
  now?: () => number;
}

interface Entry {
  record: EventRecord;
  /** Bytes on disk; 0 when the event could not be written (kept in memory only). */
  bytes: number;
  files: string[];
}

/**
 * Events with ids and pictures, on disk: `<id>.jpg` (and `<id>.before.jpg` for drift) are written first, then
 * `<id>.json`, each atomically, and only then does record() resolve, so a published event's picture already
 * exists. A write that fails (a full disk) is reported with its cause, the event is still returned (without a
 * picture, with `snapshotError`) and kept in memory, and no event already stored is touched. Retention removes the
 * oldest events beyond the count, byte and age limits, never the one just written.
 */
export class EventStore implements EventLog {
  private entries: Entry[] = [];
  private totalBytes = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;
  private readonly now: () => number;
  /** Events written with their pictures, since start. */
  stored = 0;
  /** Events whose files could not be written, since start. */
  failures = 0;
  /** Events removed by retention, since start. */
  pruned = 0;
  /** Milliseconds the last record() took to encode and write its pictures and JSON. */
  lastWriteMs = 0;

  constructor(private readonly o: EventStoreOptions) {
    this.log = o.log ?? defaultLogger();
    this.now = o.now ?? Date.now;
  }

  get dir(): string {
    return this.o.dir;
  }

  get size(): { count: number; bytes: number } {
    return { count: this.entries.length, bytes: this.totalBytes };
  }

  /**
   * Loads the events on disk: removes temp files and pictures without their JSON (a crash between the two writes,
   * before the event was published), skips unreadable JSON with a warning, then applies retention.
   */
  async open(): Promise<void> {
    const dir = this.o.dir;
    await fs.promises.mkdir(dir, { recursive: true });
    const names = await fs.promises.readdir(dir);
    const pictures = new Set(names.filter((n) => n.endsWith('.jpg')));
    const loaded: Entry[] = [];
    for (const n of names) {
      if (ATOMIC_TEMP_FILE.test(n)) await fs.promises.rm(path.join(dir, n), { force: true });
      if (!n.endsWith('.json')) continue;
      const file = path.join(dir, n);
      try {
        const record = recordSchema.parse(JSON.parse(await fs.promises.readFile(file, 'utf8'))) as EventRecord;
        if (`${record.id}.json` !== n) throw new Error(`its id ${record.id} does not match the file name`);
        const files = [n];
        for (const p of PICTURE_NAMES) {
          const jpg = this.pictureFile(record.id, p);
          if (pictures.delete(jpg)) files.push(jpg);
          else if (record[p] !== undefined) {
            delete record[p];
            record.snapshotError = `the ${p} picture is missing from ${dir}`;
          }
        }
        let bytes = 0;
        for (const f of files) bytes += (await fs.promises.stat(path.join(dir, f))).size;
        loaded.push({ record, bytes, files });
      } catch (e) {
        this.log.warn({ file, err: (e as Error).message }, 'event store: skipping an unreadable event file');
      }
    }
    for (const orphan of pictures) await fs.promises.rm(path.join(dir, orphan), { force: true });
    loaded.sort((a, b) => a.record.t - b.record.t || (a.record.id < b.record.id ? -1 : 1));
    this.entries = loaded;
    this.totalBytes = loaded.reduce((s, e) => s + e.bytes, 0);
    await this.prune();
  }

  /**
   * Gives the event an id, writes its pictures and JSON, and resolves with the record to publish. Never rejects:
   * a failed write is logged, counted and carried in `snapshotError`.
   */
  record<E extends EventInput>(event: E, pictures: Partial<Record<PictureName, Frame>>): Promise<EventRecord<E>> {
    const run = this.chain.then(() => this.write(event, pictures));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write<E extends EventInput>(event: E, pictures: Partial<Record<PictureName, Frame>>): Promise<EventRecord<E>> {
    const t0 = performance.now();
    const id = newEventId(event.t);
    const written: string[] = [];
    const record: EventRecord<E> = { ...event, id };
    let bytes = 0;
    try {
      for (const p of PICTURE_NAMES) {
        const frame = pictures[p];
        if (!frame) continue;
        const jpeg = await frameJpeg(frame, this.o.jpegQuality ?? 85);
        const name = this.pictureFile(id, p);
        await writeFileAtomic(path.join(this.o.dir, name), jpeg);
        written.push(name);
        bytes += jpeg.length;
        record[p] = pictureUrl(id, p);
      }
      const json = Buffer.from(JSON.stringify(record));
      await writeFileAtomic(path.join(this.o.dir, `${id}.json`), json);
      written.push(`${id}.json`);
      bytes += json.length;
    } catch (e) {
      for (const f of written) await fs.promises.rm(path.join(this.o.dir, f), { force: true }).catch(() => undefined);
      for (const p of PICTURE_NAMES) delete record[p];
      record.snapshotError = `not stored: ${diskErrorText(e)}`;
      this.failures++;
      this.log.error(
        { streamId: event.streamId, id, err: diskErrorText(e) },
        `event store: cannot write ${event.type} event ${id} to ${this.o.dir}; it is published without a picture (free space or lower events.maxBytes)`,
      );
      this.entries.push({ record, bytes: 0, files: [] });
      this.lastWriteMs = performance.now() - t0;
      return record;
    }
    this.entries.push({ record, bytes, files: written });
    this.totalBytes += bytes;
    this.stored++;
    this.lastWriteMs = performance.now() - t0;
    await this.prune(record.id);
    return record;
  }

  /** Removes the oldest events beyond the limits (never `keep`); returns how many went. */
  async prune(keep?: string): Promise<number> {
    const cutoff = this.now() - this.o.maxAgeDays * 86_400_000;
    let removed = 0;
    while (this.entries.length > 0) {
      const oldest = this.entries[0]!;
      if (oldest.record.id === keep) break;
      const over = this.entries.length > this.o.maxCount || this.totalBytes > this.o.maxBytes || oldest.record.t < cutoff;
      if (!over) break;
      // JSON first: a crash in between leaves pictures without JSON, which open() removes
      const files = [...oldest.files].sort((a, b) => Number(b.endsWith('.json')) - Number(a.endsWith('.json')));
      try {
        for (const f of files) await fs.promises.rm(path.join(this.o.dir, f), { force: true });
      } catch (e) {
        this.log.warn({ id: oldest.record.id, err: (e as Error).message }, 'event store: cannot remove an old event; retrying later');
        break;
      }
      this.entries.shift();
      this.totalBytes -= oldest.bytes;
      removed++;
    }
    this.pruned += removed;
    return removed;
  }

  /** Matching events, newest first. */
  list(q: EventQuery = {}): EventRecord[] {
    const out: EventRecord[] = [];
    const limit = q.limit ?? 100;
    for (let i = this.entries.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.entries[i]!.record;
      if (q.since !== undefined && r.t < q.since) continue;
      if (q.stream !== undefined && r.streamId !== q.stream) continue;
      if (q.type !== undefined && r.type !== q.type) continue;
      out.push(r);
    }
    return out;
  }

  get(id: string): EventRecord | undefined {
    if (!EVENT_ID.test(id)) return undefined;
    return this.entries.find((e) => e.record.id === id)?.record;
  }

  /** The JPEG of one of an event's pictures, or undefined when there is none. */
  async picture(id: string, name: PictureName): Promise<Buffer | undefined> {
    const r = this.get(id);
    if (!r || r[name] === undefined) return undefined;
    try {
      return await fs.promises.readFile(path.join(this.o.dir, this.pictureFile(id, name)));
    } catch {
      return undefined;
    }
  }

  private pictureFile(id: string, name: PictureName): string {
    return name === 'snapshot' ? `${id}.jpg` : `${id}.${name}.jpg`;
  }
}
