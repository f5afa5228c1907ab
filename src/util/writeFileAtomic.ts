import * as fs from 'node:fs';
import * as path from 'node:path';

/** Temp files of writeFileAtomic are named `.<target>.<pid>.<ms>.tmp`; a crash can leave them behind. */
export const ATOMIC_TEMP_FILE = /^\..+\.\d+\.\d+\.tmp$/;

/**
 * Write `data` to `file` atomically: a temp file in the same directory, fsync, rename over the target, fsync the
 * directory. A crash or a full disk leaves either the old file or the new one, never a mix.
 */
export async function writeFileAtomic(file: string, data: Buffer | string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
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
