import mqtt, { type MqttClient } from 'mqtt';
import { defaultLogger, type Logger } from '../util/Logger';
import { eventPayload, safeUrl, type NotifiableEvent } from './eventPayload';
import { homeAssistantDiscovery } from './homeAssistantDiscovery';

export interface MqttNotifierOptions {
  /** mqtt://host:port (or mqtts://, ws://); credentials go in username/password, never in logs. */
  url: string;
  username?: string;
  password?: string;
  clientId?: string;
  /** Topics are `<prefix>/available`, `<prefix>/<stream>/event`, `<prefix>/<stream>/state`, `<prefix>/<stream>/novelty`. */
  topicPrefix?: string;
  /** Publish Home Assistant discovery configs (retained) for each stream. */
  homeAssistant?: boolean;
  discoveryPrefix?: string;
  /** The agent's URL as subscribers reach it, for the snapshot URLs in events. */
  publicUrl?: string;
  /** Events kept while the broker is away (drop-oldest, counted); sent when it is back. */
  queueSize?: number;
  reconnectMs?: number;
  connectTimeoutMs?: number;
  log?: Logger;
}

/** An event to notify about: detector events (with id and pictures) and camera state changes. */
export type MqttEvent = NotifiableEvent & { state?: string };

/**
 * Publishes the agent's events to an MQTT broker (the npm `mqtt` client). `<prefix>/available` is `online` while
 * connected and `offline` as the last will (and on a clean stop), both retained, so Home Assistant greys the
 * sensors out when the agent dies. A broker that is down or goes away is logged once per outage; the client
 * reconnects on its own, and events meanwhile wait in a bounded queue.
 */
export class MqttNotifier {
  private client: MqttClient | undefined;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly queue: { topic: string; payload: string; retain: boolean }[] = [];
  /** Retained per-stream state, re-sent on every (re)connection (a broker may have restarted without persistence). */
  private readonly retained = new Map<string, string>();
  private readonly streams = new Set<string>();
  private downSince: number | undefined;
  private lastError = '';
  /** Messages the broker acknowledged, failed to publish, dropped from a full queue while it was away. */
  published = 0;
  failed = 0;
  dropped = 0;
  connections = 0;

  constructor(private readonly o: MqttNotifierOptions) {
    this.prefix = o.topicPrefix ?? 'dino-stream';
    this.log = o.log ?? defaultLogger();
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  get where(): string {
    return safeUrl(this.o.url);
  }

  /** Connects in the background: never throws for a broker that is down (that is logged, and retried). */
  start(): void {
    if (this.client) return;
    this.downSince = Date.now();
    const client = mqtt.connect(this.o.url, {
      username: this.o.username,
      password: this.o.password,
      clientId: this.o.clientId ?? `dino-stream-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      will: { topic: `${this.prefix}/available`, payload: Buffer.from('offline'), qos: 1, retain: true },
      reconnectPeriod: this.o.reconnectMs ?? 2000,
      connectTimeout: this.o.connectTimeoutMs ?? 5000,
      queueQoSZero: false,
      resubscribe: false,
    });
    this.client = client;
    client.on('connect', () => this.onConnect());
    client.on('error', (e: Error & { code?: string | number }) => {
      const why = `${e.message}${typeof e.code === 'string' && !e.message.includes(e.code) ? ` (${e.code})` : ''}`;
      if (why !== this.lastError) this.log.error({ broker: this.where, err: why }, `mqtt: ${this.where}: ${why}; retrying every ${(this.o.reconnectMs ?? 2000) / 1000} s, events are queued`);
      this.lastError = why;
    });
    client.on('close', () => {
      if (this.downSince !== undefined) return;
      this.downSince = Date.now();
      this.log.warn({ broker: this.where }, `mqtt: connection to ${this.where} lost; reconnecting, events are queued (up to ${this.queueSize})`);
    });
  }

  private get queueSize(): number {
    return this.o.queueSize ?? 1000;
  }

  private onConnect(): void {
    this.connections++;
    const down = this.downSince === undefined ? 0 : Date.now() - this.downSince;
    this.downSince = undefined;
    this.lastError = '';
    this.send(`${this.prefix}/available`, 'online', true);
    if (this.o.homeAssistant) for (const s of this.streams) this.discover(s);
    for (const [topic, payload] of this.retained) this.send(topic, payload, true);
    const queued = this.queue.splice(0);
    for (const m of queued) this.send(m.topic, m.payload, m.retain);
    this.log.info(
      { broker: this.where, queued: queued.length },
      this.connections === 1 ? `mqtt: connected to ${this.where}` : `mqtt: connected to ${this.where} again after ${(down / 1000).toFixed(1)} s; ${queued.length} queued messages sent`,
    );
  }

  /** Announces a stream (Home Assistant discovery when enabled). */
  addStream(streamId: string): void {
    if (this.streams.has(streamId)) return;
    this.streams.add(streamId);
    if (this.o.homeAssistant && this.connected) this.discover(streamId);
  }

  /** A stream removed at run time: its discovery configs are cleared (empty retained payloads). */
  removeStream(streamId: string): void {
    if (!this.streams.delete(streamId)) return;
    this.retained.delete(`${this.prefix}/${streamId}/state`);
    if (!this.o.homeAssistant) return;
    for (const c of homeAssistantDiscovery(streamId, this.prefix, this.o.discoveryPrefix)) this.publish(c.topic, '', true);
  }

  private discover(streamId: string): void {
    for (const c of homeAssistantDiscovery(streamId, this.prefix, this.o.discoveryPrefix)) this.send(c.topic, JSON.stringify(c.config), true);
  }

  /** Camera events set the stream's retained state; detector events go to `<stream>/event` (novelty also pulses `<stream>/novelty`). */
  notify(e: MqttEvent): void {
    if (e.streamId === undefined) {
      this.publish(`${this.prefix}/event`, JSON.stringify(eventPayload(e, this.o.publicUrl)), false);
      return;
    }
    this.addStream(e.streamId);
    if (e.type === 'camera' && e.state !== undefined) {
      const topic = `${this.prefix}/${e.streamId}/state`;
      this.retained.set(topic, e.state);
      this.publish(topic, e.state, true);
      return;
    }
    this.publish(`${this.prefix}/${e.streamId}/event`, JSON.stringify(eventPayload(e, this.o.publicUrl)), false);
    if (e.type === 'novelty') this.publish(`${this.prefix}/${e.streamId}/novelty`, 'ON', false);
  }

  private publish(topic: string, payload: string, retain: boolean): void {
    if (this.connected) return this.send(topic, payload, retain);
    if (retain && this.retained.has(topic)) return; // re-sent from `retained` on connect
    this.queue.push({ topic, payload, retain });
    if (this.queue.length > this.queueSize) {
      this.queue.shift();
      this.dropped++;
    }
  }

  private send(topic: string, payload: string, retain: boolean): void {
    this.client!.publish(topic, payload, { qos: 1, retain }, (err) => {
      if (err) {
        this.failed++;
        this.log.warn({ broker: this.where, topic, err: err.message }, 'mqtt: publish failed');
      } else this.published++;
    });
  }

  /** Publishes `offline` (a clean stop sends no will) and disconnects; bounded by timeoutMs when the broker is away. */
  async stop(timeoutMs = 2000): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => client.end(true, () => resolve()), timeoutMs);
      const end = () =>
        client.end(false, () => {
          clearTimeout(timer);
          resolve();
        });
      if (client.connected) client.publish(`${this.prefix}/available`, 'offline', { qos: 1, retain: true }, end);
      else client.end(true, () => (clearTimeout(timer), resolve()));
    });
  }
}
