import { toolSuite, type JestApi } from './requireTool';

/** A stand-in for jest's describe/test that records what a suite declaration does. */
function fakeJest() {
  const log: string[] = [];
  const describe = Object.assign((name: string, fn: () => void) => (log.push(`describe ${name}`), fn()), {
    skip: (name: string) => log.push(`skip ${name}`),
  });
  const api: JestApi = {
    describe,
    test: (name, fn) => {
      try {
        fn();
        log.push(`test ${name}: passes`);
      } catch (e) {
        log.push(`test ${name}: fails: ${(e as Error).message}`);
      }
    },
    warn: (m) => log.push(`warn ${m}`),
  };
  return { api, log };
}

describe('requireTool', () => {
  it('declares the suite as usual when every tool is present', () => {
    const { api, log } = fakeJest();
    toolSuite([], false, api)('rtsp', () => api.test('reads frames', () => undefined));
    expect(log).toEqual(['describe rtsp', 'test reads frames: passes']);
  });

  it('skips the suite with what to install when a tool is missing', () => {
    const { api, log } = fakeJest();
    toolSuite(['chromium', 'gst-rtsp-server'], false, api)('dashboard', () => api.test('draws', () => undefined));
    expect(log).toHaveLength(2);
    expect(log[0]).toMatch(/^warn skipping "dashboard": needs chromium, gst-rtsp-server, not found on this machine: apt-get install -y chromium python3-gi gir1\.2-gst-rtsp-server-1\.0 /);
    expect(log[1]).toBe('skip dashboard');
  });

  it('fails instead of skipping when CI is set', () => {
    const { api, log } = fakeJest();
    toolSuite(['nats-server'], true, api)('nats', () => api.test('publishes', () => undefined));
    expect(log[0]).toBe('describe nats');
    expect(log[1]).toMatch(/^test has its system tools .*: fails: needs nats-server, not found on this machine: apt-get install -y nats-server/);
    expect(log.some((l) => l.includes('publishes'))).toBe(false);
  });
});
