/**
 * A problem with what the user asked an evaluation to read (an unknown class name, a video that cannot be
 * opened), as opposed to a bug: the CLI prints its message plainly and exits 2, like an ImageFolderError.
 */
export class EvalInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalInputError';
  }
}
