/**
 * A request the agent's HTTP API refused: its status, a stable code and a message naming the field and the fix
 * (and, for a bad source, each problem). Thrown by what the API calls (SourceSet) and by DinoClient alike.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: string[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
