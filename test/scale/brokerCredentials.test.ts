/**
 * Broker credentials through config, against Debian's nats-server on 127.0.0.1 set up for each kind: a token,
 * a user and password, an nkey, TLS with a CA, and mutual TLS. Each connects with the right settings, and is
 * refused with the wrong ones fast, naming the settings to change and never showing a secret.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { Registry } from 'prom-client';
import type { z } from 'zod';
import { natsSchema } from '../../config/natsSchema';
import { BrokerConnection } from '../../src/scale/BrokerConnection';
import { ensureTopology, TOPOLOGY } from '../../src/scale/Topology';
import type { Logger } from '../../src/util/Logger';
import { NatsServer } from '../helpers/natsServer';
import { requireTool } from '../helpers/requireTool';

jest.setTimeout(60_000);

const TLS = path.resolve(__dirname, '../fixtures/natsTls');
const TOKEN = 'tok-7f3a9c2e51d8';
const PASSWORD = 'pw-c0ffee-4242';

type Settings = z.input<typeof natsSchema> & { url: string };

function recordingLogger() {
  const lines: string[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

/** Opens a connection with these settings, proves JetStream answers (the topology is made), and closes it. */
async function connectWith(n: Settings, log: Logger): Promise<void> {
  const cfg = natsSchema.parse(n);
  const conn = await BrokerConnection.open(cfg, 'credentials test', new Registry(), log);
  try {
    await ensureTopology(conn.jsm, cfg);
    expect((await conn.jsm.streams.info(TOPOLOGY.frames.stream)).config.name).toBe('FRAMES');
  } finally {
    await conn.close();
  }
}

/** The start's error (it must come within 10 s, never hang). */
async function refusal(n: Settings, log: Logger): Promise<string> {
  const t0 = Date.now();
  try {
    await connectWith(n, log);
  } catch (e) {
    expect(Date.now() - t0).toBeLessThan(10_000);
    return (e as Error).message;
  }
  throw new Error('connected although it should have been refused');
}

requireTool('nats-server')('broker credentials (token, user and password, nkey, TLS) through config', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-nats-cred-'));
  const brokers: NatsServer[] = [];
  const broker = async (args: string[]) => {
    const b = await NatsServer.start(args);
    brokers.push(b);
    return b;
  };
  afterAll(async () => {
    for (const b of brokers) await b.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a token broker: the token connects; none or a wrong one is refused naming nats.token, and the token is never shown', async () => {
    const b = await broker(['--auth', TOKEN]);
    const { log, lines } = recordingLogger();
    await connectWith({ url: b.url, token: TOKEN }, log);
    expect(await refusal({ url: b.url }, log)).toMatch(/refused a connection without credentials; set nats\.token \(DINO_NATS_TOKEN\)/);
    const wrong = await refusal({ url: b.url, token: 'not-the-token' }, log);
    expect(wrong).toMatch(/Authorization Violation: the broker refused the credentials given \(nats\.token\)/);
    expect(wrong).not.toContain('not-the-token');
    expect(lines.join('\n')).not.toContain(TOKEN);
    // credentials written into the URL are used, and never shown
    await connectWith({ url: b.url.replace('nats://', `nats://${TOKEN}@`) }, log);
    expect(lines.join('\n')).toContain('nats://***@127.0.0.1');
    expect(lines.join('\n')).not.toContain(TOKEN);
  });

  test('a user and password broker: both connect; a wrong password is refused naming nats.password', async () => {
    const b = await broker(['--user', 'dino', '--pass', PASSWORD]);
    const { log, lines } = recordingLogger();
    await connectWith({ url: b.url, user: 'dino', password: PASSWORD }, log);
    expect(await refusal({ url: b.url, user: 'dino', password: 'wrong-password' }, log)).toMatch(/credentials given \(nats\.user, nats\.password\)/);
    await connectWith({ url: b.url.replace('nats://', `nats://dino:${encodeURIComponent(PASSWORD)}@`) }, log);
    expect(lines.join('\n')).not.toContain(PASSWORD);
  });

  test('an nkey broker: the seed file of a known key connects; another key is refused; a file that is no seed is named', async () => {
    const key = createUser();
    const conf = path.join(dir, 'nkey.conf');
    fs.writeFileSync(conf, `authorization { users = [ { nkey: "${key.getPublicKey()}" } ] }\n`);
    const b = await broker(['-c', conf]);
    const seedFile = path.join(dir, 'user.nk');
    fs.writeFileSync(seedFile, new TextDecoder().decode(key.getSeed()) + '\n', { mode: 0o600 });
    const otherFile = path.join(dir, 'other.nk');
    fs.writeFileSync(otherFile, new TextDecoder().decode(createUser().getSeed()));
    const { log, lines } = recordingLogger();
    await connectWith({ url: b.url, nkeySeedFile: seedFile }, log);
    expect(await refusal({ url: b.url, nkeySeedFile: otherFile }, log)).toMatch(/credentials given \(nats\.nkeySeedFile\)/);
    const notSeed = path.join(dir, 'public.nk');
    fs.writeFileSync(notSeed, key.getPublicKey());
    expect(await refusal({ url: b.url, nkeySeedFile: notSeed }, log)).toMatch(/nats\.nkeySeedFile .*public\.nk does not hold a user nkey seed/);
    expect(await refusal({ url: b.url, nkeySeedFile: path.join(dir, 'missing.nk') }, log)).toMatch(/nats\.nkeySeedFile .*missing\.nk cannot be read: ENOENT/);
    expect(lines.join('\n')).not.toContain(new TextDecoder().decode(key.getSeed()));
  });

  test('a TLS broker: its CA connects over tls://; without it the start stops naming nats.tls.caFile', async () => {
    const b = await broker(['--tls', '--tlscert', path.join(TLS, 'server.pem'), '--tlskey', path.join(TLS, 'server-key.pem')]);
    const url = b.url.replace('nats://', 'tls://');
    const { log } = recordingLogger();
    await connectWith({ url, tls: { caFile: path.join(TLS, 'ca.pem') } }, log);
    expect(await refusal({ url }, log)).toMatch(/TLS failed \(.*certificate.*\): nats\.tls\.caFile must name the CA/);
    expect(await refusal({ url, tls: { caFile: path.join(dir, 'nope.pem') } }, log)).toMatch(/nats\.tls\.caFile .*nope\.pem does not exist/);
  });

  test('a mutual-TLS broker: the client certificate connects; without one the start stops naming nats.tls.certFile', async () => {
    const b = await broker([
      '--tls', '--tlscert', path.join(TLS, 'server.pem'), '--tlskey', path.join(TLS, 'server-key.pem'), '--tlsverify', '--tlscacert', path.join(TLS, 'ca.pem'),
    ]);
    const url = b.url.replace('nats://', 'tls://');
    const { log } = recordingLogger();
    const caFile = path.join(TLS, 'ca.pem');
    await connectWith({ url, tls: { caFile, certFile: path.join(TLS, 'client.pem'), keyFile: path.join(TLS, 'client-key.pem') } }, log);
    expect(await refusal({ url, tls: { caFile } }, log)).toMatch(/nats\.tls\.certFile and nats\.tls\.keyFile/);
  });

  test('a broker not up yet is waited for (the roles start in any order), and said so once', async () => {
    const b = await broker([]);
    await b.stop();
    const { log, lines } = recordingLogger();
    const opened = connectWith({ url: b.url }, log);
    await new Promise((r) => setTimeout(r, 2500));
    await b.restart(0);
    await opened;
    expect(lines.filter((l) => l.includes('not reachable yet'))).toHaveLength(1);
  });
});
