/** Sources added and removed at run time, as the HTTP API sees them; src/agent implements it (refusals: ApiError). */

export interface SourceInfo {
  id: string;
  kind: string;
  /** From the configuration, or added at run time (POST /api/sources). */
  origin: 'config' | 'runtime';
  /** The source's settings as in the configuration, with any password in a URL replaced by ***. */
  config: Record<string, unknown>;
  /** Mask polygons in normalised coordinates. */
  mask: ReadonlyArray<ReadonlyArray<readonly [number, number]>>;
  /** Can be watched as full-rate live video (/live/<id>). */
  live: boolean;
}

export interface SourceControl {
  list(): SourceInfo[];
  /** Validates `spec` with the configuration's source schema, starts the source and persists the change. */
  add(spec: unknown): Promise<SourceInfo>;
  /** Stops the source and persists the change; false when there is no such source. */
  remove(id: string): Promise<boolean>;
}
