import { Observable, type Subscription } from 'rxjs';
import type { AgentConfig } from '../../config/schema';
import { MqttNotifier } from '../notify/MqttNotifier';
import { WebhookNotifier } from '../notify/WebhookNotifier';
import type { AgentEvent } from '../types/messages';
import type { Logger } from '../util/Logger';

/**
 * The configured notifiers (MQTT, webhooks) as subscribers of the agent's published events: they see each
 * novelty or drift event after the store gave it an id and wrote its pictures. Neither can slow the agent down:
 * both queue (bounded) and deliver in the background.
 */
export class Notifications {
  readonly mqtt: MqttNotifier | null;
  readonly webhooks: WebhookNotifier | null;
  private sub: Subscription | undefined;

  constructor(cfg: AgentConfig['notify'], publicUrl: string, log: Logger) {
    const m = cfg.mqtt;
    this.mqtt = m.url
      ? new MqttNotifier({
          url: m.url,
          username: m.username,
          password: m.password,
          clientId: m.clientId,
          topicPrefix: m.topicPrefix,
          homeAssistant: m.homeAssistant,
          discoveryPrefix: m.discoveryPrefix,
          publicUrl,
          log,
        })
      : null;
    this.webhooks = cfg.webhooks.length > 0 ? new WebhookNotifier(cfg.webhooks, { publicUrl, log }) : null;
  }

  /** Connects (in the background) and follows the events; `streams` are announced at once (Home Assistant discovery). */
  start(events$: Observable<AgentEvent>, streams: string[]): void {
    this.mqtt?.start();
    for (const s of streams) this.mqtt?.addStream(s);
    this.sub = events$.subscribe((e) => {
      this.mqtt?.notify(e);
      this.webhooks?.notify(e);
    });
  }

  addStream(id: string): void {
    this.mqtt?.addStream(id);
  }

  removeStream(id: string): void {
    this.mqtt?.removeStream(id);
  }

  /** Sends what is queued (webhooks: up to graceMs) and `offline` to the broker. */
  async stop(graceMs = 2000): Promise<void> {
    this.sub?.unsubscribe();
    await Promise.all([this.mqtt?.stop(graceMs), this.webhooks?.stop(graceMs)]);
  }
}
