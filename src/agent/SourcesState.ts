import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { sourceSchema, type SourceConfig } from '../../config/schema';
import { writeFileAtomic } from '../util/writeFileAtomic';

/**
 * The run-time changes to the configured sources, kept in a state file so they survive a restart: sources added
 * (with the id they were given) and the ids of configured sources removed. Written atomically; read and
 * validated at start.
 */
export interface SourcesChanges {
  added: SourceConfig[];
  removed: string[];
}

const stateSchema = z
  .object({
    version: z.literal(1),
    added: z.array(sourceSchema),
    removed: z.array(z.string()),
  })
  .strict();

export class SourcesStateError extends Error {
  constructor(readonly file: string, why: string) {
    super(`sources state file ${file}: ${why}`);
    this.name = 'SourcesStateError';
  }
}

/** The changes in `file`; none when it does not exist. A file that cannot be read or fails the schema throws SourcesStateError. */
export function readSourcesState(file: string): SourcesChanges {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { added: [], removed: [] };
    throw new SourcesStateError(file, `cannot be read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SourcesStateError(file, `is not valid JSON: ${(e as Error).message}`);
  }
  const r = stateSchema.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new SourcesStateError(file, `${first.path.join('.') || '(top)'}: ${first.message}`);
  }
  return { added: r.data.added, removed: r.data.removed };
}

export async function writeSourcesState(file: string, c: SourcesChanges): Promise<void> {
  await fs.promises.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileAtomic(file, JSON.stringify({ version: 1, added: c.added, removed: c.removed }, null, 2) + '\n');
}
