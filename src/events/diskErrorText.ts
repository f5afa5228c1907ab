/** A file-system error as a reader understands it: the cause first, the errno code and path after. */
export function diskErrorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const cause: Record<string, string> = {
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exceeded',
    EROFS: 'the file system is read-only',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ENOENT: 'the directory is gone',
  };
  const what = (err.code && cause[err.code]) ?? err.message ?? String(e);
  return err.code ? `${what} (${err.code}${err.path ? ` on ${err.path}` : ''})` : what;
}
