import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentServer } from '../../src/serve/AgentServer';
import { EventStore } from '../../src/events/EventStore';
import { ApiError } from '../../src/types/ApiError';
import type { SourceControl, SourceInfo } from '../../src/types/SourceControl';
import type { Frame } from '../../streams/Frame';
import { silentLogger } from '../../src/util/Logger';
import { FakeHub } from './fakeHub';

const TOKEN = 'api-token-123456';
const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);

function frame(v: number): Frame {
  return { streamId: 'cam', t: T0, index: 0, width: 16, height: 16, rgb: new Uint8Array(16 * 16 * 3).fill(v) };
}

/** A SourceControl that keeps a list (the real one, SourceSet, has its own test). */
class ListSources implements SourceControl {
  items: SourceInfo[] = [{ id: 'cam', kind: 'synthetic', origin: 'config', config: { kind: 'synthetic' }, mask: [], live: false }];
  list() {
    return this.items;
  }
  async add(spec: unknown) {
    const s = spec as { kind?: string; id?: string };
    if (s.kind !== 'synthetic') throw new ApiError(400, 'bad_source', 'invalid source: kind: Invalid input', ['kind: Invalid input']);
    const info: SourceInfo = { id: s.id ?? 'new', kind: 'synthetic', origin: 'runtime', config: { ...s }, mask: [], live: false };
    this.items.push(info);
    return info;
  }
  async remove(id: string) {
    const n = this.items.length;
    this.items = this.items.filter((i) => i.id !== id);
    return this.items.length < n;
  }
}

describe('the JSON API: /api/events and /api/sources', () => {
  const store = new EventStore({ dir: fs.mkdtempSync(path.join(os.tmpdir(), 'dino-api-')), maxCount: 100, maxBytes: 1 << 30, maxAgeDays: 30, log: silentLogger });
  const sources = new ListSources();
  let server: AgentServer;
  let http: string;
  const auth = { Authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    await store.open();
    server = new AgentServer({ hub: new FakeHub(), port: 0, log: silentLogger, token: TOKEN, events: store, sources });
    http = `http://127.0.0.1:${(await server.start()).port}`;
  });
  afterAll(() => server.stop());

  test('events: listed newest first with filters, one by id, pictures as JPEG; all behind the token', async () => {
    const a = await store.record({ type: 'novelty', streamId: 'cam', t: T0, score: 0.3 }, { snapshot: frame(200) });
    const b = await store.record({ type: 'drift', streamId: 'yard', t: T0 + 5000, statistic: 0.2 }, { before: frame(10), snapshot: frame(240) });
    expect((await fetch(`${http}/api/events`)).status).toBe(401);
    expect((await fetch(`${http}/api/events/${a.id}/snapshot.jpg`)).status).toBe(401);
    const all = await (await fetch(`${http}/api/events`, { headers: auth })).json();
    expect(all.events.map((e: { id: string }) => e.id)).toEqual([b.id, a.id]);
    const since = new Date(T0 + 1000).toISOString();
    expect((await (await fetch(`${http}/api/events?since=${since}`, { headers: auth })).json()).events).toEqual([b]);
    expect((await (await fetch(`${http}/api/events?stream=cam&type=novelty`, { headers: auth })).json()).events).toEqual([a]);
    expect(await (await fetch(`${http}/api/events/${b.id}`, { headers: auth })).json()).toEqual(b);
    const pic = await fetch(`${http}${b.before}?token=${TOKEN}`); // as an <img> in the dashboard asks
    expect([pic.status, pic.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    const bytes = Buffer.from(await pic.arrayBuffer());
    expect(bytes.equals((await store.picture(b.id, 'before'))!)).toBe(true);
    expect((await fetch(`${http}/api/events/${a.id}/before.jpg`, { headers: auth })).status).toBe(404); // novelty has no before
    expect((await fetch(`${http}/api/events/nope/snapshot.jpg`, { headers: auth })).status).toBe(404);
    const bad = await fetch(`${http}/api/events?since=yesterday`, { headers: auth });
    expect([bad.status, (await bad.json()).message]).toEqual([400, 'since=yesterday: use milliseconds since the epoch or an ISO date (2026-12-07T10:00:00Z)']);
    const del = await fetch(`${http}/api/events/${a.id}`, { method: 'DELETE', headers: auth });
    expect([del.status, del.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });

  test('sources: list, add (201), a bad spec (400 naming the field), not JSON (415), delete (204, then 404)', async () => {
    expect((await fetch(`${http}/api/sources`, { method: 'POST', body: '{}' })).status).toBe(401);
    const list = await (await fetch(`${http}/api/sources`, { headers: auth })).json();
    expect(list.sources.map((s: SourceInfo) => s.id)).toEqual(['cam']);
    const json = { ...auth, 'Content-Type': 'application/json' };
    const added = await fetch(`${http}/api/sources`, { method: 'POST', headers: json, body: JSON.stringify({ kind: 'synthetic', id: 'two' }) });
    expect([added.status, (await added.json()).id]).toEqual([201, 'two']);
    const bad = await fetch(`${http}/api/sources`, { method: 'POST', headers: json, body: JSON.stringify({ kind: 'pigeon' }) });
    expect([bad.status, await bad.json()]).toEqual([400, { type: 'error', code: 'bad_source', message: 'invalid source: kind: Invalid input', problems: ['kind: Invalid input'] }]);
    const notJson = await fetch(`${http}/api/sources`, { method: 'POST', headers: json, body: '{kind:' });
    expect([notJson.status, (await notJson.json()).code]).toEqual([400, 'bad_json']);
    expect((await fetch(`${http}/api/sources`, { method: 'POST', headers: auth, body: 'kind=x' })).status).toBe(415);
    const big = await fetch(`${http}/api/sources`, { method: 'POST', headers: json, body: JSON.stringify({ kind: 'synthetic', pad: 'x'.repeat(70_000) }) });
    expect(big.status).toBe(413);
    expect((await fetch(`${http}/api/sources/two`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect((await fetch(`${http}/api/sources/two`, { method: 'DELETE', headers: auth })).status).toBe(404);
    expect(sources.items.map((s) => s.id)).toEqual(['cam']);
    // the rest of the server still answers GET only
    expect((await fetch(`${http}/metrics`, { method: 'POST', headers: auth })).status).toBe(405);
  });
});
