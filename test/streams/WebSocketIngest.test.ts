import { readFileSync } from 'fs';
import { AddressInfo } from 'net';
import { resolve } from 'path';
import sharp from 'sharp';
import { WebSocket, WebSocketServer } from 'ws';
import { Frame } from '../../streams/Frame';
import { silentLogger } from '../../src/util/Logger';
import { encodeRawRgb, IngestError, WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { waitFor } from './waitFor';
import { sharedData } from '../helpers/sharedData';

const CIFAR = sharedData('cifar10/test');
const W = 20;
const H = 12; // not square: a transposed width/height would show

describe('WebSocketIngest', () => {
  let wss: WebSocketServer;
  let url: string;
  let ingest: WebSocketIngest;
  const frames: Frame[] = [];
  const clients: WebSocket[] = [];

  beforeAll(async () => {
    ingest = new WebSocketIngest({ width: W, height: H, open: true, maxBytes: 64 * 1024, maxPendingPerConnection: 16, messagesPerSecond: 1000, messageBurst: 1000, logger: silentLogger });
    ingest.frames$.subscribe((f) => frames.push(f));
    // maxPayload above maxBytes, as the server in src/serve must do, so oversized messages get an answer.
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 });
    wss.on('connection', (socket, req) => ingest.handleConnection(socket, new URL(req.url!, 'http://x').searchParams.get('stream')!));
    await new Promise<void>((r) => wss.once('listening', () => r()));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ingest`;
  });

  afterAll(async () => {
    for (const c of clients) c.terminate();
    ingest.close();
    await new Promise<void>((r) => wss.close(() => r()));
  });

  async function connect(stream: string): Promise<{ ws: WebSocket; errors: IngestError[] }> {
    const ws = new WebSocket(`${url}?stream=${stream}`);
    clients.push(ws);
    const errors: IngestError[] = [];
    ws.on('message', (d, isBinary) => {
      if (!isBinary) errors.push(JSON.parse(d.toString()) as IngestError);
    });
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    return { ws, errors };
  }

  it('decodes real JPEGs, PNG and raw RGB to the configured size, rejects bad input with clear errors, keeps serving', async () => {
    const { ws, errors } = await connect('phone');
    const jpegs = ['airplane/0000.jpg', 'cat/0001.jpg', 'ship/0002.jpg'].map((p) => readFileSync(resolve(CIFAR, p)));
    const png = await sharp(jpegs[1]).png().toBuffer();
    const exact = new Uint8Array(W * H * 3).map((_, i) => (i * 7) % 256);
    const bigger = new Uint8Array(40 * 24 * 3).fill(200);

    // good: 3 JPEGs, 1 PNG, raw at the exact size (passes through untouched), raw of another size (resized)
    for (const j of jpegs) ws.send(j);
    ws.send(png);
    ws.send(encodeRawRgb(W, H, exact));
    ws.send(encodeRawRgb(40, 24, bigger));
    await waitFor(() => frames.length >= 6, 5000, '6 good frames');

    // bad: truncated JPEG, random bytes, header/size mismatch, zero width, oversized, text
    ws.send(jpegs[0]!.subarray(0, 200));
    ws.send(Buffer.from('this is not an image at all'));
    ws.send(encodeRawRgb(W, H, exact).subarray(0, 8 + W * H * 3 - 5));
    ws.send(encodeRawRgb(0, H, new Uint8Array(0)));
    ws.send(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(100 * 1024)]));
    ws.send('{"hello":"world"}');
    await waitFor(() => errors.length >= 6, 5000, '6 error replies');

    // still serving on the same connection, and to a new client
    ws.send(jpegs[2]!);
    const other = await connect('door');
    other.ws.send(jpegs[0]!);
    await waitFor(() => frames.length >= 8, 5000, 'frames after the bad ones');

    expect(errors.map((e) => e.code).sort()).toEqual(
      ['bad_header', 'decode_failed', 'size_mismatch', 'text_not_supported', 'too_large', 'unknown_format'].sort(),
    );
    for (const e of errors) {
      expect(e.type).toBe('error');
      expect(e.message.length).toBeGreaterThan(15);
    }
    expect(errors.find((e) => e.code === 'size_mismatch')!.message).toContain(`${W}x${H}`);
    expect(errors.find((e) => e.code === 'too_large')!.message).toContain('65536');
    expect(other.errors).toEqual([]);
    expect(ws.readyState).toBe(WebSocket.OPEN);

    for (const f of frames) {
      expect([f.width, f.height, f.rgb.length]).toEqual([W, H, W * H * 3]);
    }
    const phone = frames.filter((f) => f.streamId === 'phone');
    expect(phone.map((f) => f.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(frames.filter((f) => f.streamId === 'door').map((f) => f.index)).toEqual([0]);
    // order per connection is kept: the raw exact-size frame is the 5th and arrives byte-identical
    expect(Buffer.from(phone[4]!.rgb).equals(Buffer.from(exact))).toBe(true);
    // the resized uniform raw frame stays uniform
    expect(phone[5]!.rgb.every((v) => v === 200)).toBe(true);
    // the decoded JPEG matches sharp's own decode of the same bytes
    const ref = await sharp(jpegs[0]).resize(W, H, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
    expect(Buffer.from(phone[0]!.rgb).equals(ref)).toBe(true);
    // JPEG and PNG of the same picture decode to nearly the same pixels
    const diff = phone[1]!.rgb.reduce((a, v, i) => a + Math.abs(v - phone[3]!.rgb[i]!), 0) / phone[1]!.rgb.length;
    expect(diff).toBeLessThan(2);

    const st = ingest.statsFor('phone');
    expect(st.frames).toBe(7);
    expect(st.errors).toBe(6);
    expect(st.messages).toBe(13);
    expect(st.errorsByCode).toEqual({
      decode_failed: 1,
      unknown_format: 1,
      size_mismatch: 1,
      bad_header: 1,
      too_large: 1,
      text_not_supported: 1,
    });
    expect(ingest.statsFor('door').errors).toBe(0);
  });

  it('bounds the decode queue of a client that floods: drops oldest, counts them', async () => {
    const { ws } = await connect('flood');
    const jpeg = readFileSync(resolve(CIFAR, 'dog/0000.jpg'));
    const n = 200;
    const before = frames.length;
    for (let i = 0; i < n; i++) ws.send(jpeg);
    await waitFor(() => ingest.statsFor('flood').messages === n, 5000, 'all flood messages received');
    await waitFor(() => {
      const s = ingest.statsFor('flood');
      return s.frames + s.dropped === n;
    }, 5000, 'every message decoded or dropped');
    const s = ingest.statsFor('flood');
    expect(s.dropped).toBeGreaterThan(0);
    expect(frames.length - before).toBe(s.frames);
  });
});
