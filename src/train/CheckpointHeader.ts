import { z } from 'zod';

/** A run's id: the UTC time it started, to the millisecond (sorts as it was started): 20261207T101500123. */
export const RUN_ID = /^\d{8}T\d{9}$/;

const tensorEntry = z.object({
  name: z.string().min(1).max(512),
  shape: z.array(z.number().int().min(0)).max(8),
  offset: z.number().int().min(0),
  size: z.number().int().min(0),
});

/** The JSON header of a checkpoint file (see Checkpoint.ts). Files written before runs existed have no runId. */
export const checkpointHeaderSchema = z.object({
  version: z.number().int(),
  step: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  createdAt: z.string().max(64),
  runId: z.string().regex(RUN_ID).optional(),
  /** Anything JSON the owner wants back: configs, optimiser step counts, RNG states. */
  meta: z.record(z.string(), z.unknown()),
  tensors: z.array(tensorEntry),
});

export type CheckpointHeader = z.infer<typeof checkpointHeaderSchema>;

/** The first problem of a zod error, as `field.path: message`. */
export function firstIssue(e: z.ZodError, prefix = ''): string {
  const issue = e.issues[0]!;
  const where = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  return `${where || '(root)'}: ${issue.message}`;
}

/**
 * Checks the tensor table against the payload that is actually in the file: every size is the product of its
 * shape, tensors are stored back to back from offset 0, names are unique, and together they fill the payload
 * exactly. Returns the problem, or null. After this, no header value can make a reader allocate more than the file.
 */
export function tensorTableProblem(tensors: CheckpointHeader['tensors'], payloadFloats: number): string | null {
  const names = new Set<string>();
  let next = 0;
  for (const t of tensors) {
    if (names.has(t.name)) return `tensor "${t.name}" is listed twice`;
    names.add(t.name);
    let product = 1;
    // stop as soon as the product leaves the payload: it stays an exact integer in a double
    for (const d of t.shape) {
      product *= d;
      if (product > payloadFloats) return `tensor "${t.name}" has shape [${t.shape}], larger than the file's payload`;
    }
    if (t.size !== product) return `tensor "${t.name}" has size ${t.size}, its shape [${t.shape}] holds ${product}`;
    if (t.offset !== next) return `tensor "${t.name}" starts at ${t.offset}, expected ${next} (tensors are stored back to back)`;
    next += t.size;
    if (next > payloadFloats) return `tensor "${t.name}" ends at ${next}, past the payload's ${payloadFloats} floats`;
  }
  if (next !== payloadFloats) return `the tensors hold ${next} floats, the payload ${payloadFloats}`;
  return null;
}
