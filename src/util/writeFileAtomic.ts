import * as fs from 'node:fs';
import * as path from 'node:path';

/** Temp files of writeFileAtomic are named `.<target>.<pid>.<ms>.tmp`; a crash can leave them behind. */
export const ATOMIC_TEMP_FILE = /^\..+\.(\d+)\.\d+\.tmp$/;

/**
 * Write `data` to `file` atomically: a temp file in the same directory, fsync, rename over the target, fsync the
 * directory. A crash or a full disk leaves either the old file or the new one, never a mix (a crash can leave the
 * temp file: removeStaleTemps clears those).
 */
export async function writeFileAtomic(file: string, data: Buffer | string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await fs.promises.open(tmp, 'w');
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  const dh = await fs.promises.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Delete the temp files that writers which are gone left in `dir` (a kill -9 in the middle of a write). A temp
 * file of this very pid is stale too: call this before this process writes there (in a container every start is
 * pid 1). Returns the names removed.
 */
export function removeStaleTemps(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = ATOMIC_TEMP_FILE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && alive(pid)) continue;
    fs.rmSync(path.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}
