import { ConfigError, envLayer, resolveConfig } from '../../config/loadConfig';
import { flagsLayer } from '../../src/cli/runCommand';

const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('no configuration error');
};

describe('the nats section (scale-out) of the configuration', () => {
  test('without --nats there is no broker: the single-process agent, all roles', () => {
    const c = resolveConfig([]);
    expect(c.nats.url).toBeNull();
    expect(c.nats.roles).toEqual(['ingest', 'embed', 'train', 'detect', 'gateway']);
  });

  test('flags set the url, roles (a comma list, "all", repeats folded), the detect shard and the instance', () => {
    const c = resolveConfig([flagsLayer({ nats: 'nats://10.0.0.2:4222', role: 'embed, detect,embed', shard: '1/3', instance: 'worker-7' })]);
    expect(c.nats).toMatchObject({ url: 'nats://10.0.0.2:4222', roles: ['embed', 'detect'], detectShard: '1/3', instance: 'worker-7' });
    expect(resolveConfig([flagsLayer({ role: 'all' })]).nats.roles).toEqual(['ingest', 'embed', 'train', 'detect', 'gateway']);
  });

  test('the broker credentials come from the environment, and a bad one is refused without showing it', () => {
    const c = resolveConfig([envLayer({ DINO_NATS_URL: 'tls://broker:4222', DINO_NATS_TOKEN: 's3cret-token', DINO__NATS__USER: 'dino', DINO_NATS_PASSWORD: 'pw-1234' })]);
    expect(c.nats).toMatchObject({ url: 'tls://broker:4222', token: 's3cret-token', user: 'dino', password: 'pw-1234' });
    const msg = errorOf(() => resolveConfig([envLayer({ DINO_NATS_TOKEN: '' })]));
    expect(msg).toMatch(/nats\.token/);
  });

  test('bad roles, shards, instances and unknown TLS fields are refused naming the field and what is allowed', () => {
    expect(errorOf(() => resolveConfig([flagsLayer({ role: 'ingest,trainer' })]))).toMatch(/nats\.roles.*--role.*comma list of ingest, embed, train, detect, gateway or all/s);
    expect(errorOf(() => resolveConfig([flagsLayer({ shard: '2/2' })]))).toMatch(/nats\.detectShard.*--shard.*index must be below the count/s);
    expect(errorOf(() => resolveConfig([flagsLayer({ shard: 'first' })]))).toMatch(/nats\.detectShard.*index\/count/s);
    expect(errorOf(() => resolveConfig([flagsLayer({ instance: 'a b' })]))).toMatch(/nats\.instance.*1-64 letters/s);
    expect(errorOf(() => resolveConfig([{ source: 'config file x.json', values: { nats: { tls: { ca: 'x' } } }, origins: {} }]))).toMatch(/nats\.tls\.ca .*not a known setting.*caFile/s);
  });

  test('a frame may wait nats.maxFrameAgeSec (5 s) before a worker skips it, longer than a dead worker holds it (ackWaitSec, 3 s)', () => {
    const c = resolveConfig([]);
    expect([c.nats.maxFrameAgeSec, c.nats.ackWaitSec]).toEqual([5, 3]);
    const values = (nats: Record<string, unknown>) => [{ source: 'config file x.json', values: { nats }, origins: {} }];
    expect(errorOf(() => resolveConfig(values({ maxFrameAgeSec: 2 })))).toMatch(/nats\.maxFrameAgeSec.*above nats\.ackWaitSec/s);
    expect(errorOf(() => resolveConfig(values({ ackWaitSec: 10 })))).toMatch(/nats\.maxFrameAgeSec.*above nats\.ackWaitSec/s);
    expect(resolveConfig(values({ ackWaitSec: 10, maxFrameAgeSec: 20 })).nats).toMatchObject({ ackWaitSec: 10, maxFrameAgeSec: 20 });
  });
});
