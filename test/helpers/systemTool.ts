import { execFileSync } from 'node:child_process';

/** True when `name` is on the PATH (or is an existing absolute path). */
export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$0"`, name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `describe` when the system tool is there; otherwise the block is skipped with a message saying what to install,
 * except under CI (env CI set), where a missing tool is a failure: CI installs everything and must never skip.
 */
export function describeWithTool(tool: string, aptPackage: string): jest.Describe {
  if (hasTool(tool)) return describe;
  const why = `${tool} not found: apt-get install -y ${aptPackage} (.ci/run installs it)`;
  if (process.env.CI) {
    return ((name: string) =>
      describe(name, () => {
        it(`needs ${tool}`, () => {
          throw new Error(why);
        });
      })) as unknown as jest.Describe;
  }
  return ((name: string, fn: () => void) => {
    describe.skip(name, fn);
    console.warn(`skipping "${name}": ${why}`);
  }) as unknown as jest.Describe;
}
