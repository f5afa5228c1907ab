import { createHash } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { defer, filter, map, Observable, switchMap } from 'rxjs';
import { z } from 'zod';
import type { TeacherSnapshot } from '../train/TrainerService';
import type { Logger } from '../util/Logger';
import type { BrokerConnection } from './BrokerConnection';
import { decodeTeacher, encodeTeacher, type TeacherBlob } from './TeacherBlob';
import { TOPOLOGY } from './Topology';

/** The KV value naming the current teacher. */
const pointerSchema = z
  .object({
    name: z.string().regex(/^teacher-\d+$/),
    step: z.number().int().min(0),
    model: z.string().min(1),
    /** SHA-256 of the object's bytes, hex: checked after the fetch, beside the Object Store's own digest. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    size: z.number().int().positive(),
    t: z.number(),
  })
  .strict();
export type TeacherPointer = z.infer<typeof pointerSchema>;

export interface FetchedTeacher {
  pointer: TeacherPointer;
  teacher: TeacherBlob;
  fetchMs: number;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Teacher weights through the broker: the trainer puts each snapshot into the Object Store as teacher-<step> and
 * then points the KV key teacher.current at it; workers watch the key, fetch the object, check its digest and
 * model, and load it. Only the newest `keep` objects are kept (a worker fetching an older one finds it gone or
 * changed, says so, and takes the next pointer).
 */
export class TeacherStore {
  private constructor(
    private readonly kv: KV,
    private readonly objects: ObjectStore,
    private readonly keep: number,
    private readonly log: Logger,
  ) {}

  static async open(conn: BrokerConnection, keep: number, log: Logger): Promise<TeacherStore> {
    const kv = await new Kvm(conn.js).create(TOPOLOGY.kv, { history: 1 });
    const objects = await new Objm(conn.js).create(TOPOLOGY.objects);
    return new TeacherStore(kv, objects, keep, log);
  }

  /** Stores the snapshot and makes it the current teacher; returns the pointer. */
  async publish(snapshot: TeacherSnapshot, model: string): Promise<TeacherPointer> {
    const bytes = encodeTeacher(snapshot, model);
    const name = `teacher-${snapshot.step}`;
    await this.objects.putBlob({ name }, bytes);
    const pointer: TeacherPointer = { name, step: snapshot.step, model, sha256: sha256(bytes), size: bytes.length, t: Date.now() };
    await this.kv.put(TOPOLOGY.teacherKey, JSON.stringify(pointer));
    await this.prune(snapshot.step).catch((e: unknown) => this.log.warn({ err: String(e) }, 'old teacher objects not removed'));
    return pointer;
  }

  /** The current pointer, or null before any teacher was published. */
  async current(): Promise<TeacherPointer | null> {
    const e = await this.kv.get(TOPOLOGY.teacherKey);
    return e && e.operation === 'PUT' ? parsePointer(e.string()) : null;
  }

  /**
   * The current teacher, then each new one, fetched and verified. A pointer that arrives during a fetch supersedes
   * it; a teacher that fails (gone, digest or model mismatch, malformed) is logged and skipped.
   */
  follow$(model: string): Observable<FetchedTeacher> {
    const watch$ = new Observable<string>((subscriber) => {
      let stop: (() => void) | null = null;
      void this.kv
        .watch({ key: TOPOLOGY.teacherKey })
        .then(async (iter) => {
          stop = () => iter.stop();
          for await (const e of iter) if (e.operation === 'PUT') subscriber.next(e.string());
          subscriber.complete();
        })
        .catch((e: unknown) => subscriber.error(e));
      return () => stop?.();
    });
    return watch$.pipe(
      map((text) => {
        try {
          return parsePointer(text);
        } catch (e) {
          this.log.error({ err: (e as Error).message }, 'teacher pointer refused');
          return null;
        }
      }),
      filter((p): p is TeacherPointer => p !== null),
      switchMap((pointer) => defer(() => this.fetch(pointer, model))),
      filter((r): r is FetchedTeacher => r !== null),
    );
  }

  /** The teacher a pointer names, verified; null (logged) when it cannot be used. */
  async fetch(pointer: TeacherPointer, model: string): Promise<FetchedTeacher | null> {
    const t0 = performance.now();
    const fail = (why: string) => {
      this.log.error({ teacher: pointer.name }, `teacher ${pointer.name} refused: ${why}`);
      return null;
    };
    if (pointer.model !== model) return fail(`it is a ${pointer.model} teacher and this process runs ${model} (set --model ${pointer.model})`);
    let bytes: Uint8Array | null;
    try {
      bytes = await this.objects.getBlob(pointer.name);
    } catch (e) {
      return fail((e as Error).message); // the Object Store's own digest check fails here
    }
    if (!bytes) return fail('the object is gone (superseded)');
    if (bytes.length !== pointer.size || sha256(bytes) !== pointer.sha256) return fail('its SHA-256 is not the one the pointer names');
    try {
      const teacher = decodeTeacher(bytes);
      if (teacher.step !== pointer.step || teacher.model !== model) return fail(`the object holds step ${teacher.step} of ${teacher.model}`);
      return { pointer, teacher, fetchMs: performance.now() - t0 };
    } catch (e) {
      return fail((e as Error).message);
    }
  }

  private async prune(newest: number): Promise<void> {
    const steps = (await this.objects.list())
      .map((o) => ({ name: o.name, step: Number(/^teacher-(\d+)$/.exec(o.name)?.[1] ?? NaN) }))
      .filter((o) => Number.isFinite(o.step) && o.step !== newest)
      .sort((a, b) => b.step - a.step);
    for (const o of steps.slice(this.keep - 1)) await this.objects.delete(o.name);
  }
}

function parsePointer(text: string): TeacherPointer {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('teacher pointer is not JSON');
  }
  const r = pointerSchema.safeParse(v);
  if (!r.success) throw new Error(`teacher pointer: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}
