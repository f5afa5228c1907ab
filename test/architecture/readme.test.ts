import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

describe('README', () => {
  it('stays a manual: at most 400 lines (measurements and logs go to docs/)', () => {
    expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(400);
  });

  it('names only files and folders that exist', () => {
    // backticked or linked repository paths: src/..., streams/..., test/..., docs/..., config/..., scripts/..., native/...
    const refs = new Set<string>();
    for (const m of readme.matchAll(/(?:`|\]\()((?:src|streams|test|docs|config|scripts|native)\/[\w./-]*\w)/g)) refs.add(m[1]!);
    expect(refs.size).toBeGreaterThan(20);
    expect([...refs].filter((r) => !fs.existsSync(path.join(root, r)))).toEqual([]);
  });
});
