import { configSchema } from '../../config/schema';
import { ingestSettings, serverSettings } from '../../src/agent/serverSettings';
import { AgentServer } from '../../src/serve/AgentServer';
import { silentLogger } from '../../src/util/Logger';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { FakeHub } from '../serve/fakeHub';
import { httpGet, refusedUpgrade, TestClient } from '../serve/wsClient';

describe('serverSettings / ingestSettings (the agent and the scale-out gateway build their front door from them)', () => {
  const cfg = configSchema.parse({
    sources: [{ kind: 'ws', id: 'cam' }, { kind: 'synthetic', id: 'synth' }],
    server: { port: 0, allowedHosts: ['dash.example.com'], allowedOrigins: ['https://dash.example.com'], maxConnectionsPerAddress: 3, ingestIdleSec: 7, messagesPerSec: 9, ingestMessagesPerSec: 11 },
    train: { frameSize: 48 },
  });

  it('carries every configured check and bound', () => {
    const s = serverSettings(cfg.server);
    expect(s).toMatchObject({ host: '127.0.0.1', port: 0, allowedHosts: ['dash.example.com'], allowedOrigins: ['https://dash.example.com'] });
    expect(s.limits).toEqual({ maxClients: cfg.server.maxClients, maxIngestConnections: cfg.server.maxIngestConnections, maxConnectionsPerAddress: 3, messagesPerSecond: 9, messageBurst: 18 });
    const i = ingestSettings(cfg, { declared: ['cam'] });
    expect(i).toMatchObject({ width: 48, height: 48, declared: ['cam'], open: false, idleTimeoutMs: 7000, messagesPerSecond: 11, messageBurst: 22 });
  });

  it('a server built from them refuses foreign hosts, foreign origins and undeclared or reserved ingest ids', async () => {
    const ingest = new WebSocketIngest({ ...ingestSettings(cfg, { declared: ['cam'], reserved: (id) => id === 'synth' }), logger: silentLogger });
    const server = new AgentServer({ hub: new FakeHub(), ingest, ...serverSettings(cfg.server), log: silentLogger, env: {} });
    const { port } = await server.start();
    try {
      const base = `127.0.0.1:${port}`;
      expect((await httpGet(`http://${base}/metrics`, { Host: 'evil.example' })).status).toBe(421);
      expect((await httpGet(`http://${base}/metrics`, { Host: 'dash.example.com' })).status).toBe(200);
      expect((await refusedUpgrade(`ws://${base}/events`, { Origin: 'http://evil.example' })).status).toBe(403);
      expect((await refusedUpgrade(`ws://${base}/ingest/other`)).body).toMatchObject({ code: 'unknown_stream' });
      expect((await refusedUpgrade(`ws://${base}/ingest/synth`)).status).toBeGreaterThanOrEqual(400);
      const producer = await TestClient.open(`ws://${base}/ingest/cam`, { Origin: 'https://dash.example.com' });
      producer.close();
    } finally {
      await server.stop();
      ingest.close();
    }
  });
});
