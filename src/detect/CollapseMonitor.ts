/**
 * Watches the trainer's per-step monitors for the two DINO collapse modes (paper, section 5.3):
 * - uniform collapse: the teacher output is flat, so the loss sits at ln(out_dim) and the teacher entropy
 *   near ln(out_dim);
 * - one-hot collapse: every image goes to the same prototype, teacher entropy near 0;
 * - and, in the backbone, all embeddings converge to one point: the std (per dimension, across the batch)
 *   of L2-normalised embeddings falls from the healthy ~1/sqrt(d) towards 0.
 * A condition must hold for `patience` consecutive steps to be raised (one bad batch is not a collapse) and
 * be absent for `recoveryPatience` steps to clear. Events are edge-triggered: one when the set of active
 * reasons changes, none while it stays the same. A non-finite loss is raised at once (training diverged).
 * Note that the loss starts near ln(out_dim) at initialisation: skip the first steps with `warmupSteps`.
 */
import type { CollapseEvent, CollapseReason } from './DetectorEvent';

export interface CollapseMonitors {
  loss: number;
  /** Mean entropy (nats) of the teacher's softmax outputs. */
  teacherEntropy: number;
  /** Mean over dimensions of the std across the batch of L2-normalised embeddings. */
  embeddingStd: number;
  /** ln(out_dim) of the DINO head. */
  lnOutDim: number;
  /** Embedding dimension d. */
  dim: number;
  step?: number;
  t?: number;
}

export interface CollapseMonitorOptions {
  /** Consecutive steps a condition must hold before it is raised (default 50). */
  patience?: number;
  /** Consecutive healthy steps before a raised condition clears (default = patience). */
  recoveryPatience?: number;
  /** Steps ignored at the start of training (default 0). */
  warmupSteps?: number;
  /** Uniform collapse when |loss - ln(out_dim)| <= lossTolerance * ln(out_dim) (default 0.02). */
  lossTolerance?: number;
  /** Low-std collapse when std < stdFraction / sqrt(d) (default 0.2). */
  stdFraction?: number;
  /** One-hot collapse when entropy < entropyLowFraction * ln(out_dim) (default 0.01). */
  entropyLowFraction?: number;
  /** Uniform collapse when entropy > (1 - entropyHighTolerance) * ln(out_dim) (default 0.02). */
  entropyHighTolerance?: number;
  streamId?: string;
}

export interface CollapseStatus {
  collapsed: boolean;
  /** Active (raised) reasons. */
  reasons: CollapseReason[];
  /** Conditions that hold on this step, raised or not yet. */
  failing: CollapseReason[];
  /** Set only when the active set changed on this step. */
  event?: CollapseEvent;
}

const ORDER: CollapseReason[] = ['non-finite', 'uniform-loss', 'uniform-entropy', 'one-hot-entropy', 'low-std'];

export class CollapseMonitor {
  readonly patience: number;
  readonly recoveryPatience: number;
  readonly warmupSteps: number;
  readonly lossTolerance: number;
  readonly stdFraction: number;
  readonly entropyLowFraction: number;
  readonly entropyHighTolerance: number;
  readonly streamId?: string;

  private readonly bad = new Map<CollapseReason, number>(); // consecutive failing steps
  private readonly good = new Map<CollapseReason, number>(); // consecutive healthy steps while active
  private readonly active = new Set<CollapseReason>();
  private steps = 0;

  constructor(opts: CollapseMonitorOptions = {}) {
    this.patience = opts.patience ?? 50;
    this.recoveryPatience = opts.recoveryPatience ?? this.patience;
    this.warmupSteps = opts.warmupSteps ?? 0;
    this.lossTolerance = opts.lossTolerance ?? 0.02;
    this.stdFraction = opts.stdFraction ?? 0.2;
    this.entropyLowFraction = opts.entropyLowFraction ?? 0.01;
    this.entropyHighTolerance = opts.entropyHighTolerance ?? 0.02;
    this.streamId = opts.streamId;
  }

  get collapsed(): boolean {
    return this.active.size > 0;
  }

  /** The conditions that hold for these monitors, ignoring patience. */
  check(m: CollapseMonitors): CollapseReason[] {
    const out: CollapseReason[] = [];
    if (![m.loss, m.teacherEntropy, m.embeddingStd].every(Number.isFinite)) out.push('non-finite');
    const ln = m.lnOutDim;
    if (Math.abs(m.loss - ln) <= this.lossTolerance * ln) out.push('uniform-loss');
    if (m.teacherEntropy > (1 - this.entropyHighTolerance) * ln) out.push('uniform-entropy');
    if (m.teacherEntropy < this.entropyLowFraction * ln) out.push('one-hot-entropy');
    if (m.embeddingStd < this.stdFraction / Math.sqrt(m.dim)) out.push('low-std');
    return out;
  }

  update(m: CollapseMonitors): CollapseStatus {
    const step = m.step ?? this.steps;
    this.steps++;
    const failing = step < this.warmupSteps ? [] : this.check(m);
    const raised: CollapseReason[] = [];
    const cleared: CollapseReason[] = [];
    for (const r of ORDER) {
      if (failing.includes(r)) {
        this.good.set(r, 0);
        const n = (this.bad.get(r) ?? 0) + 1;
        this.bad.set(r, n);
        const need = r === 'non-finite' ? 1 : this.patience;
        if (!this.active.has(r) && n >= need) {
          this.active.add(r);
          raised.push(r);
        }
      } else {
        this.bad.set(r, 0);
        if (this.active.has(r)) {
          const n = (this.good.get(r) ?? 0) + 1;
          this.good.set(r, n);
          if (n >= (r === 'non-finite' ? 1 : this.recoveryPatience)) {
            this.active.delete(r);
            cleared.push(r);
          }
        }
      }
    }
    const reasons = ORDER.filter((r) => this.active.has(r));
    const status: CollapseStatus = { collapsed: reasons.length > 0, reasons, failing };
    if (raised.length > 0 || cleared.length > 0) {
      status.event = {
        type: 'collapse',
        streamId: this.streamId,
        t: m.t ?? step,
        active: reasons.length > 0,
        reasons,
        raised,
        cleared,
        step,
        message: this.describe(m, raised, cleared, reasons),
      };
    }
    return status;
  }

  reset(): void {
    this.bad.clear();
    this.good.clear();
    this.active.clear();
    this.steps = 0;
  }

  private describe(m: CollapseMonitors, raised: CollapseReason[], cleared: CollapseReason[], active: CollapseReason[]): string {
    const values =
      `loss ${m.loss.toFixed(4)} (ln out_dim ${m.lnOutDim.toFixed(4)}), teacher entropy ${m.teacherEntropy.toFixed(4)}, ` +
      `embedding std ${m.embeddingStd.toExponential(3)} (healthy ~${(1 / Math.sqrt(m.dim)).toExponential(3)})`;
    const parts: string[] = [];
    if (raised.length) parts.push(`collapse: ${raised.join(', ')}`);
    if (cleared.length) parts.push(`recovered: ${cleared.join(', ')}`);
    if (!active.length) parts.push('healthy');
    return `${parts.join('; ')} - ${values}`;
  }
}
