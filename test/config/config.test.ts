import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { configSchema } from '../../config/schema';
import { ConfigError, envLayer, readConfigFile, resolveConfig } from '../../config/loadConfig';
import { configFromFlags } from '../../src/cli/runCommand';
import { parseSourceSpec } from '../../src/cli/sourceSpec';

const tmpFile = (content: string) => {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dino-cfg-')), 'c.json');
  fs.writeFileSync(f, content);
  return f;
};

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  test('config/default.json is exactly the schema defaults (documented defaults cannot drift)', () => {
    const file = JSON.parse(fs.readFileSync(path.join(__dirname, '../../config/default.json'), 'utf8'));
    expect(file).toEqual(configSchema.parse({}));
  });

  test('precedence: defaults < file < env < flags', () => {
    const file = tmpFile(JSON.stringify({ server: { port: 9001, host: '127.0.0.1' }, model: { size: 'tiny' }, train: { batchSize: 8 } }));
    const env = { DINO_PORT: '9002', DINO__TRAIN__BATCH_SIZE: '12' };
    const cfg = configFromFlags({ config: file, port: '9003' }, env);
    expect(cfg.server.port).toBe(9003); // flag beats env and file
    expect(cfg.train.batchSize).toBe(12); // env beats file
    expect(cfg.model.size).toBe('tiny'); // file beats default
    expect(cfg.train.recipe).toBe('stream'); // default
    expect(configFromFlags({ config: file }, env).server.port).toBe(9002);
    expect(configFromFlags({}, { DINO_CONFIG: file }).server.port).toBe(9001);
  });

  test('each kind of invalid value names the field, the value, its origin and what is allowed', () => {
    expect(problems(() => configFromFlags({ port: '70000' }, {}))).toMatch(/server\.port = 70000 \(from flag --port\): .*<=65535/);
    expect(problems(() => configFromFlags({ port: 'abc' }, {}))).toMatch(/server\.port = "abc" \(from flag --port\): .*expected number/);
    expect(problems(() => configFromFlags({ backend: 'gpu' }, {}))).toMatch(/backend\.name = "gpu" \(from flag --backend\): .*"auto"\|"tensorflow"\|"webgpu"\|"wasm"\|"cpu"/);
    expect(problems(() => configFromFlags({}, { DINO_MODEL: 'huge' }))).toMatch(/model\.size = "huge" \(from env DINO_MODEL\): .*"micro"\|"small"\|"tiny"\|"cifar"/);
    const file = tmpFile(JSON.stringify({ train: { batchsize: 4 }, sources: [{ kind: 'url' }] }));
    const msg = problems(() => configFromFlags({ config: file }, {}));
    expect(msg).toMatch(/train\.batchsize \(from config file .*c\.json\) is not a known setting; known here: .*batchSize/);
    expect(msg).toMatch(/sources\[0\]\.url missing \(from config file .*\): .*expected string/);
    expect(problems(() => configFromFlags({}, { DINO_TOKEN: 'short' }))).toMatch(/server\.token \(value hidden\) \(from env DINO_TOKEN\): must be at least 8 characters/);
  });

  test('masks, MQTT, webhooks, --batch: bad values name the field; secrets are never shown; --mqtt sets the broker, --batch the batch over the preset default', () => {
    const file = tmpFile(
      JSON.stringify({
        sources: [{ kind: 'synthetic', mask: [[[0, 0], [1.5, 0], [0, 1]]] }, { kind: 'ws', id: 'cam', mask: [[[0, 0], [1, 1]]] }],
        notify: { webhooks: [{ url: 'ftp://x', secret: 'short-Secret' }, { url: 'https://hooks.example/api/webhook/cam-7f3a9c', timeoutMs: 5 }], mqtt: { url: 'http://broker' } },
      }),
    );
    const msg = problems(() => configFromFlags({ config: file }, {}));
    expect(msg).toMatch(/sources\[0\]\.mask\[0\]\[1\]\[0\] = 1\.5 \(from config file .*\): Too big: expected number to be <=1/);
    expect(msg).toMatch(/sources\[1\]\.mask\[0\] = \[\[0,0\],\[1,1\]\] .*: a mask polygon needs at least 3 \[x, y\] points/);
    expect(msg).toMatch(/notify\.webhooks\[0\]\.url = "ftp:\/\/x" .*: must be an http:\/\/ or https:\/\/ URL/);
    expect(msg).toMatch(/notify\.webhooks\[0\]\.secret \(value hidden\) .*: must be at least 16 characters/);
    expect(msg).toMatch(/notify\.mqtt\.url = "http:\/\/broker" .*: must be mqtt:\/\/host:port/);
    expect(msg).not.toContain('short-Secret');
    // a webhook URL's path is its credential: the error about its neighbour shows the origin only
    expect(msg).toMatch(/notify\.webhooks\[1\]\.timeoutMs = 5 .*: Too small/);
    expect(msg).not.toContain('cam-7f3a9c');
    expect(configFromFlags({ model: 'vits16' }, {}).train).toMatchObject({ batchSize: 8, frameSize: 224 });
    expect(configFromFlags({ model: 'vits16', batch: '4' }, {}).train.batchSize).toBe(4);
    expect(problems(() => configFromFlags({ batch: 'four' }, {}))).toMatch(/train\.batchSize = "four" \(from flag --batch\): .*expected number/);
    const cfg = configFromFlags({ mqtt: 'mqtt://127.0.0.1:1883' }, { DINO__NOTIFY__MQTT__PASSWORD: '123456' });
    expect(cfg.notify.mqtt).toMatchObject({ url: 'mqtt://127.0.0.1:1883', password: '123456', topicPrefix: 'dino-stream', homeAssistant: false });
    expect(cfg.sources[0]!.kind === 'synthetic' && cfg.sources[0]!.mask).toEqual([]);
  });

  test('allowed hosts and origins from env (comma-separated or JSON) and repeatable flags; bad entries are named', () => {
    const env = configFromFlags({}, { DINO_ALLOWED_HOSTS: 'dash.example.com, .corp.example', DINO_ALLOWED_ORIGINS: '["https://dash.example.com"]' });
    expect(env.server.allowedHosts).toEqual(['dash.example.com', '.corp.example']);
    expect(env.server.allowedOrigins).toEqual(['https://dash.example.com']);
    const flags = configFromFlags({ allowedHost: ['a.lan', 'b.lan'], allowedOrigin: ['http://a.lan:3000'], openIngest: true }, {});
    expect(flags.server).toMatchObject({ allowedHosts: ['a.lan', 'b.lan'], allowedOrigins: ['http://a.lan:3000'], openIngest: true });
    expect(problems(() => configFromFlags({ allowedOrigin: ['https://dash.example.com/app'] }, {}))).toMatch(
      /server\.allowedOrigins\[0\] = "https:\/\/dash\.example\.com\/app" \(from flag --allowed-origin\): must be an origin/,
    );
    expect(problems(() => configFromFlags({}, { DINO_ALLOWED_HOSTS: 'bad host' }))).toMatch(/server\.allowedHosts\[0\] = "bad host" \(from env DINO_ALLOWED_HOSTS\): must be a host name/);
  });

  test('secret fields are masked in every error, URLs in values redacted', () => {
    const file = tmpFile(JSON.stringify({ server: { token: 7 }, sources: [{ kind: 'url', url: 'rtsp://admin:hunter22@cam/live', fps: -1 }], probe: 5 }));
    const msg = problems(() => configFromFlags({ config: file }, {}));
    expect(msg).toMatch(/server\.token \(value hidden\)/);
    expect(msg).toMatch(/sources\[0\]\.fps = -1/);
    expect(msg).not.toContain('hunter22');
    const whole = problems(() => configFromFlags({ config: tmpFile(JSON.stringify({ server: 'x', sources: [{ kind: 'nope', url: 'rtsp://u:hunter22@c/x', token: 'abcdefgh1' }] })) }, {}));
    expect(whole).not.toMatch(/hunter22|abcdefgh1/);
  });

  test('unreadable or malformed files are named', () => {
    expect(problems(() => readConfigFile('/nonexistent/dino.json'))).toMatch(/config file \/nonexistent\/dino\.json cannot be read/);
    expect(problems(() => readConfigFile(tmpFile('{ not json')))).toMatch(/is not valid JSON/);
    expect(problems(() => readConfigFile(tmpFile('[1,2]')))).toMatch(/must contain a JSON object/);
  });

  test('env: aliases and DINO__SECTION__KEY; tokens stay strings', () => {
    const l = envLayer({ DINO_HOST: '0.0.0.0', DINO_TOKEN: '12345678', DINO__EMBED__THUMBNAIL_FPS: '0', OTHER: 'x' });
    expect(l.values).toEqual({ server: { host: '0.0.0.0', token: '12345678' }, embed: { thumbnailFps: 0 } });
    expect(resolveConfig([l]).server.token).toBe('12345678');
  });

  test('--source specs', () => {
    expect(parseSourceSpec('rtsp://10.0.0.5:554/stream')).toEqual({ kind: 'url', url: 'rtsp://10.0.0.5:554/stream' });
    expect(parseSourceSpec('cam1=rtsp://h/p?a=b', 5)).toEqual({ kind: 'url', url: 'rtsp://h/p?a=b', id: 'cam1', fps: 5 });
    expect(parseSourceSpec('ws:cam3')).toEqual({ kind: 'ws', id: 'cam3' });
    expect(parseSourceSpec('synthetic')).toEqual({ kind: 'synthetic', id: 'synthetic' });
    expect(parseSourceSpec(os.tmpdir())).toMatchObject({ kind: 'folder', path: os.tmpdir() });
    expect(() => parseSourceSpec('/no/such/file.mp4')).toThrow(/neither a URL/);
  });

  test('the CLI stops with exit code 2 and the message on an invalid value', () => {
    const cli = path.resolve(__dirname, '../../dist/src/cli.js');
    let out = '';
    let code = 0;
    try {
      execFileSync(process.execPath, [cli, 'run', '--port', '-1'], { stdio: 'pipe' });
    } catch (e) {
      const err = e as { status: number; stderr: Buffer };
      code = err.status;
      out = err.stderr.toString();
    }
    expect(code).toBe(2);
    expect(out).toMatch(/invalid configuration:\n {2}- server\.port = -1 \(from flag --port\): Too small/);
  });
});
