/**
 * Credentials never leave the process: a camera URL with a password, a token, and every place they could surface
 * (log lines, /events, the /ui hello history and status, /metrics, /healthz, /api, error messages, config errors);
 * then the secrets of the camera features: MQTT and webhook credentials, a camera added at run time.
 * Needs `npm run build` (npm test runs it first) and ffmpeg.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { AgentProcess, CLI } from './agentProcess';
import { requireTool } from '../helpers/requireTool';
import { freePort } from '../helpers/freePort';

jest.setTimeout(120_000);

const SECRET = 'SECRET';
const URL_WITH_PASSWORD = `rtsp://u:${SECRET}@127.0.0.1:1/x`;
const TOKEN = 'tok-3b9f0c1d2e';

/** Every text message a websocket receives until `done` says so (or the timeout). */
function listen(url: string, done: (texts: string[]) => boolean, timeoutMs = 60_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const texts: string[] = [];
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${url}: condition not met; got ${texts.length} messages:\n${texts.slice(-5).join('\n')}`));
    }, timeoutMs);
    ws.on('message', (d, isBinary) => {
      if (isBinary) return;
      texts.push(d.toString());
      if (done(texts)) {
        clearTimeout(timer);
        ws.close();
        resolve(texts);
      }
    });
    ws.on('error', reject);
  });
}

requireTool('ffmpeg')('credentials never leave the process', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-redact-'));
  let agent: AgentProcess | null = null;
  afterAll(() => agent?.kill());

  test(`a source ${URL_WITH_PASSWORD}: the password is in no log line, event, /ui message, metric or error`, async () => {
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        sources: [
          { kind: 'url', id: 'door', url: URL_WITH_PASSWORD, fps: 5, maxAttempts: 3 },
          { kind: 'synthetic', id: 'synthetic', fps: 10 },
        ],
      }),
    );
    agent = new AgentProcess(['--config', config, '--port', '0', '--model', 'micro', '--checkpoint-dir', path.join(dir, 'ckpt'), '--log-level', 'debug'], {
      DINO_TOKEN: TOKEN,
    });
    const [, port] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//);
    const base = `127.0.0.1:${port}`;

    // ffmpeg cannot connect (port 1), says so on stderr with the URL, and the camera fails after 3 attempts.
    const isFailed = (t: string) => t.includes('"camera"') && t.includes('"failed"');
    const events = await listen(`ws://${base}/events?types=camera&token=${TOKEN}`, (ts) => ts.some(isFailed));
    await agent.waitFor(/source stopped/);
    // A dashboard that connects late gets the history in its hello, then the per-stream status.
    const ui = await listen(`ws://${base}/ui?token=${TOKEN}`, (ts) => ts.some((t) => t.includes('"type":"status"')));
    const metrics = await (await fetch(`http://${base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    const health = await (await fetch(`http://${base}/healthz`)).text();
    agent.signal('SIGTERM');
    await agent.exited;

    const logs = agent.raw.join('\n');
    const surfaces: Record<string, string> = { logs, events: events.join('\n'), ui: ui.join('\n'), metrics, health };
    for (const [where, text] of Object.entries(surfaces)) {
      expect({ where, leaks: text.includes(SECRET) }).toEqual({ where, leaks: false });
      expect({ where, leaks: text.includes(TOKEN) }).toEqual({ where, leaks: false });
    }
    // The redaction happened where the URL became text (not merely absent): ffmpeg's stderr line and the spawn detail.
    expect(logs).toMatch(/rtsp:\/\/\*\*\*@127\.0\.0\.1:1\/x: Connection refused/);
    expect(events.join('\n')).toMatch(/rtsp:\/\/\*\*\*@127\.0\.0\.1:1\/x/);
    const hello = JSON.parse(ui.find((t) => t.includes('"type":"hello"'))!) as { events: { type: string; detail?: string }[] };
    expect(hello.events.some((e) => e.type === 'camera' && /\*\*\*@127\.0\.0\.1/.test(e.detail ?? ''))).toBe(true);
    expect(logs).toMatch(/gave up after 3 attempts/); // the error message of the failed source was logged, redacted
    expect(metrics).toMatch(/dino_stream_fps\{stream="door"\}|dino_events_total\{type="camera"\}/);
  });

  test('MQTT and webhook credentials and the password of a camera added at run time: in no log line, event, /ui message, metric or API answer', async () => {
    const deadPort = await freePort();
    const secrets = {
      mqttPassword: 'mqtt-pw-e2e-5f1d',
      mqttUrlPassword: 'mqtt-url-pw-e2e-77',
      webhookSecret: 'hook-secret-e2e-0123456789',
      webhookId: 'hook-id-e2e-c0ffee', // Home Assistant's /api/webhook/<id>: the URL is the credential
      webhookQuery: 'hook-query-e2e-99',
      cameraPassword: 'runtime-cam-pw-e2e-31',
      token: TOKEN,
    };
    const config = path.join(dir, 'notify.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        sources: [{ kind: 'synthetic', id: 'synthetic', fps: 10 }],
        events: { dir: path.join(dir, 'events') },
        state: { sourcesFile: path.join(dir, 'state', 'sources.json') },
        notify: {
          mqtt: { url: `mqtt://dino:${secrets.mqttUrlPassword}@127.0.0.1:${deadPort}`, username: 'dino', password: secrets.mqttPassword },
          webhooks: [{ url: `http://127.0.0.1:${deadPort}/api/webhook/${secrets.webhookId}?key=${secrets.webhookQuery}`, secret: secrets.webhookSecret, types: ['camera'], maxAttempts: 1 }],
        },
      }),
    );
    agent = new AgentProcess(['--config', config, '--port', '0', '--model', 'micro', '--checkpoint-dir', path.join(dir, 'ckpt2'), '--log-level', 'debug'], { DINO_TOKEN: TOKEN });
    const [, port] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//);
    const base = `127.0.0.1:${port}`;
    const json = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    await agent.waitFor(/^mqtt: mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);

    const isFailed = (t: string) => t.includes('"camera"') && t.includes('"failed"') && t.includes('"porch"');
    const events = listen(`ws://${base}/events?types=camera&token=${TOKEN}`, (ts) => ts.some(isFailed));
    const api: string[] = [];
    const post = async (body: unknown) => {
      const r = await fetch(`http://${base}/api/sources`, { method: 'POST', headers: json, body: JSON.stringify(body) });
      api.push(await r.text());
      return r.status;
    };
    expect(await post({ kind: 'url', id: 'porch', url: `rtsp://u:${secrets.cameraPassword}@127.0.0.1:1/x`, fps: 5, maxAttempts: 2 })).toBe(201);
    expect(await post({ kind: 'url', id: 'bad', url: `ftp://u:${secrets.cameraPassword}@127.0.0.1/x` })).toBe(400);
    await events;
    await agent.waitFor(/^webhook http:\/\/127\.0\.0\.1:\d+ \(notify\.webhooks\[0\]\): camera event not delivered: ECONNREFUSED/);
    for (const p of ['/api/sources', '/api/events']) api.push(await (await fetch(`http://${base}${p}`, { headers: json })).text());
    const ui = await listen(`ws://${base}/ui?token=${TOKEN}`, (ts) => ts.some((t) => t.includes('"type":"status"')));
    const metrics = await (await fetch(`http://${base}/metrics`, { headers: json })).text();
    const health = await (await fetch(`http://${base}/healthz`)).text();
    agent.signal('SIGTERM');
    await agent.exited;

    const logs = agent.raw.join('\n');
    const surfaces: Record<string, string> = { logs, events: (await events).join('\n'), ui: ui.join('\n'), metrics, health, api: api.join('\n') };
    for (const [where, text] of Object.entries(surfaces)) {
      for (const [name, secret] of Object.entries(secrets)) expect({ where, name, leaks: text.includes(secret) }).toEqual({ where, name, leaks: false });
    }
    // shown redacted where they became text: the API's source list, ffmpeg's stderr, the camera event
    expect(JSON.parse(api[0]!)).toMatchObject({ config: { url: 'rtsp://***@127.0.0.1:1/x' } });
    expect(api[2]).toContain('"url":"rtsp://***@127.0.0.1:1/x"');
    expect(logs).toMatch(/rtsp:\/\/\*\*\*@127\.0\.0\.1:1\/x: Connection refused/);
    expect(surfaces['events']).toMatch(/rtsp:\/\/\*\*\*@127\.0\.0\.1:1\/x/);
  });

  test('configuration errors show neither passwords in URLs, the token, the MQTT password nor webhook secrets', () => {
    const bad = path.join(dir, 'bad.json');
    const mqttPassword = 'mqtt-pw-bad-config-1';
    const webhookSecret = 'hook-secret-bad-config-0123';
    fs.writeFileSync(
      bad,
      JSON.stringify({
        sources: { kind: 'url', url: URL_WITH_PASSWORD },
        server: { token: 'short' },
        notify: {
          mqtt: { url: `mqtt://dino:${mqttPassword}@127.0.0.1:1`, password: mqttPassword, topicPrefix: 'cams/#' },
          webhooks: { url: 'http://127.0.0.1:1/hook', secret: webhookSecret }, // an object where a list belongs: shown, masked
        },
      }),
    );
    let out = '';
    let code = 0;
    try {
      const env = { ...process.env };
      delete env['DINO_TOKEN'];
      execFileSync(process.execPath, [CLI, 'run', '--config', bad], { stdio: 'pipe', env });
    } catch (e) {
      const err = e as { status: number; stderr: Buffer };
      code = err.status;
      out = err.stderr.toString();
    }
    expect(code).toBe(2);
    expect(out).toMatch(/sources = \{"kind":"url","url":"rtsp:\/\/\*\*\*@127\.0\.0\.1:1\/x"\} \(from config file .*bad\.json\)/);
    expect(out).toMatch(/server\.token \(value hidden\) \(from config file .*bad\.json\): must be at least 8 characters/);
    expect(out).toMatch(/notify\.mqtt\.topicPrefix = "cams\/#"/);
    expect(out).toMatch(/notify\.webhooks = \{"url":"http:\/\/127\.0\.0\.1:1\/hook","secret":"\*\*\*"\}/);
    for (const s of [SECRET, '"short"', mqttPassword, webhookSecret]) expect(out).not.toContain(s);
    let spec = '';
    try {
      execFileSync(process.execPath, [CLI, 'run', '--source', `door=admin:${SECRET}@10.0.0.6/live`], { stdio: 'pipe' });
    } catch (e) {
      spec = (e as { stderr: Buffer }).stderr.toString();
    }
    expect(spec).toMatch(/--source door=\*\*\*@10\.0\.0\.6\/live/);
    expect(spec).not.toContain(SECRET);
  });
});
