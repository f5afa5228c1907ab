import type { Registry } from 'prom-client';
import type { AgentConfig } from '../../config/schema';
import type { RoleName } from '../../config/natsSchema';
import type { TrainerOptions } from '../train/TrainerOptions';
import type { AgentMetrics } from '../agent/AgentMetrics';
import type { Logger } from '../util/Logger';
import type { BrokerConnection } from './BrokerConnection';
import type { ScaleMetrics } from './ScaleMetrics';
import type { TeacherStore } from './TeacherStore';

/** One role's state as its health reports show it. */
export interface RoleStatus {
  ok: boolean;
  status: string;
  detail?: Record<string, number | string | boolean | null>;
}

/** The roles' statuses in this process; each role sets its own. */
export class RoleHealth {
  private readonly byRole = new Map<RoleName, RoleStatus>();

  set(role: RoleName, s: RoleStatus): void {
    this.byRole.set(role, s);
  }

  get(role: RoleName): RoleStatus | undefined {
    return this.byRole.get(role);
  }

  all(): Partial<Record<RoleName, RoleStatus>> {
    return Object.fromEntries(this.byRole);
  }

  get ok(): boolean {
    return [...this.byRole.values()].every((s) => s.ok);
  }
}

/** What every role of a process shares. */
export interface RoleContext {
  config: AgentConfig;
  conn: BrokerConnection;
  teachers: TeacherStore;
  /** The model's options as the trainer builds them (the embedders need the same shapes). */
  trainerOptions: TrainerOptions;
  registry: Registry;
  metrics: AgentMetrics;
  scale: ScaleMetrics;
  health: RoleHealth;
  instance: string;
  log: Logger;
}
