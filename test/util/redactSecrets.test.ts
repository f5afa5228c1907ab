import pino from 'pino';
import { Writable } from 'node:stream';
import { redactDeep, redactingLogOptions, redactSecrets, registerSecret, registerSecretsOf, registerUrlCredentials } from '../../src/util/redactSecrets';
import { configSchema } from '../../config/schema';
import { StderrTail } from '../../streams/sources/StderrTail';

describe('redactSecrets', () => {
  it('removes the user-info of URLs in any text, keeps the rest readable', () => {
    const cases: [string, string][] = [
      ['rtsp://u:SECRET@127.0.0.1:1/x: Connection refused', 'rtsp://***@127.0.0.1:1/x: Connection refused'],
      ['-i rtsp://admin:p@ss:w0rd@10.0.0.6/live -an', '-i rtsp://***@10.0.0.6/live -an'],
      ['{"detail":"ffmpeg rtsps://u:S3CRET%40x@cam:322/s (pid 5)"}', '{"detail":"ffmpeg rtsps://***@cam:322/s (pid 5)"}'],
      ['http://TOKEN123@cam.local/video', 'http://***@cam.local/video'],
      ['rtsp://u:a?b@host/x', 'rtsp://***@host/x'],
      ['door=admin:pw@10.0.0.6/live', 'door=***@10.0.0.6/live'],
      ['rtsp:/admin:pw@10.0.0.6/live', 'rtsp:/***@10.0.0.6/live'],
      ['rtsp:///admin:pw@10.0.0.6/live', 'rtsp:///***@10.0.0.6/live'],
      ['http://cam/video.cgi?user=admin&pwd=hunter2&x=1', 'http://cam/video.cgi?user=admin&pwd=***&x=1'],
      ['ws://127.0.0.1:8080/ui?token=abcdefgh&streams=*', 'ws://127.0.0.1:8080/ui?token=***&streams=*'],
      ['https://api.example/v1?api_key=k&access_token=t', 'https://api.example/v1?api_key=***&access_token=***'],
    ];
    for (const [input, want] of cases) expect(redactSecrets(input)).toBe(want);
    for (const plain of ['[tcp @ 0x55] Connection to tcp://127.0.0.1:1?timeout=0 failed', 'mail a@b.com at 12:30', 'rtsp://cam/live', 'frame=  10 fps=5.0 time=00:00:02.00']) {
      expect(redactSecrets(plain)).toBe(plain);
    }
    expect(redactSecrets(redactSecrets(cases[0]![0]))).toBe(cases[0]![1]); // idempotent
  });

  it('replaces registered secrets in every form, however a tool prints them', () => {
    registerUrlCredentials('rtsp://viewer:Pa%24%24word42@cam/live');
    expect(redactSecrets('auth failed for Pa$$word42 (Pa%24%24word42)')).toBe('auth failed for *** (***)');
    registerSecret('tok-registered-1');
    expect(redactSecrets('?x=tok-registered-1')).toBe('?x=***');
    registerSecret('ab'); // too short to hunt for in free text
    expect(redactSecrets('tab stab')).toBe('tab stab');
  });

  it('registerSecretsOf registers every secret of a configuration: secret-named fields at any depth, URL credentials and webhook paths', () => {
    const secrets = ['srv-token-5a1c', 'mqtt-pw-9d2e', 'mqtt-url-pw-41', 'hook-secret-0123456789', 'hook-user-pw-77', 'nats-token-3c', 'nats-pw-8b', 'cam-pw-6e', '/services/T0/B1/hookpath-c0ffee'];
    const config = configSchema.parse({
      server: { token: secrets[0] },
      sources: [{ kind: 'url', url: `rtsp://admin:${secrets[7]}@10.0.0.5/live` }],
      notify: {
        mqtt: { url: `mqtt://dino:${secrets[2]}@broker:1883`, username: 'dino', password: secrets[1] },
        webhooks: [{ url: `https://hook:${secrets[4]}@hooks.example/in`, secret: secrets[3] }, { url: `https://hooks.example${secrets[8]}` }],
      },
      nats: { token: secrets[5], user: 'u', password: secrets[6] },
    });
    registerSecretsOf(config);
    let written = '';
    const log = pino({ level: 'info', ...redactingLogOptions }, new Writable({ write: (c, _e, cb) => ((written += c.toString()), cb()) }));
    // a whole options object logged, and each value in free text and percent-encoded: none may show
    log.info({ config }, `values: ${secrets.join(' ')} ${secrets.map(encodeURIComponent).join(' ')}`);
    for (const s of secrets) expect({ s, shown: written.includes(s) }).toEqual({ s, shown: false });
    expect(written).toContain('"username":"dino"'); // names are not secrets
    expect(written).toContain('https://hooks.example'); // a webhook's origin is shown, its path is not
  });

  it('redactDeep copies plain values and redacts Errors, leaves buffers alone', () => {
    const buf = Buffer.from('rtsp://u:SECRET@h/x');
    const out = redactDeep({ a: ['rtsp://u:SECRET@h/x'], b: { c: 1, d: new Error('at rtsp://u:SECRET@h/x') }, buf });
    expect(out.a).toEqual(['rtsp://***@h/x']);
    expect(JSON.stringify(out.b)).not.toContain('SECRET');
    expect(out.buf).toBe(buf);
  });

  it('a pino logger with redactingLogOptions writes no credential, in the message or the object', () => {
    let written = '';
    const sink = new Writable({ write: (c, _e, cb) => ((written += c.toString()), cb()) });
    const log = pino({ level: 'info', ...redactingLogOptions }, sink);
    log.warn({ detail: 'rtsp://u:SECRET@h/x', nested: { list: ['http://a:SECRET@c/d'] } }, 'camera %s down at rtsp://u:SECRET@h/x', 'rtsp://u:SECRET@h/y');
    log.error({ err: new Error('spawn rtsp://u:SECRET@h/x') }, 'failed');
    expect(written).not.toContain('SECRET');
    expect(written).toContain('rtsp://***@h/x');
    expect(written).toContain('camera rtsp://***@h/y down');
  });

  it("ffmpeg's stderr tail holds redacted lines, also a line split across chunks", () => {
    const tail = new StderrTail(5);
    tail.push('rtsp://u:SEC');
    tail.push('RET@127.0.0.1:1/x: Connection refused\n[tcp @ 0x1] ok\nrtsp://u:SECRET@h/partial');
    expect(tail.get()).toEqual(['rtsp://***@127.0.0.1:1/x: Connection refused', '[tcp @ 0x1] ok', 'rtsp://***@h/partial']);
  });
});
