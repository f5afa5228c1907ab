/** Stream ids travel in URLs, metric labels and the binary header: keep them short and URL-safe. */
export const STREAM_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function isValidStreamId(id: unknown): id is string {
  return typeof id === 'string' && STREAM_ID_RE.test(id);
}

/** A human-readable reason why `id` is not a stream id, or undefined when it is one. */
export function streamIdProblem(id: string): string | undefined {
  if (STREAM_ID_RE.test(id)) return undefined;
  const shown = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}...` : id);
  return `invalid stream id ${shown}: use 1-64 characters from A-Z a-z 0-9 _ . -`;
}
