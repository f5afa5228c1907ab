import { redactSecrets } from '../../src/util/redactSecrets';

/** Keeps the last N lines a child wrote to stderr, so errors can say what ffmpeg said; credentials in them are redacted (ffmpeg repeats the URL). */
export class StderrTail {
  private lines: string[] = [];
  private partial = '';

  constructor(private readonly maxLines = 20) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split(/\r?\n|\r/);
    this.partial = parts.pop() ?? '';
    // A runaway line (no newline) must not grow without bound.
    if (this.partial.length > 4096) this.partial = this.partial.slice(-4096);
    for (const line of parts) {
      if (line.trim() === '') continue;
      this.lines.push(redactSecrets(line));
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
  }

  /** Last lines, oldest first, including an unterminated last line. */
  get(): string[] {
    return this.partial.trim() ? [...this.lines, redactSecrets(this.partial)] : [...this.lines];
  }

  last(): string {
    const all = this.get();
    return all[all.length - 1] ?? '';
  }

  clear(): void {
    this.lines = [];
    this.partial = '';
  }
}
