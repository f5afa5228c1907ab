/**
 * Schedules of the official DINO code (utils.cosine_scheduler and the teacher-temperature linspace), written as
 * functions of the step count because a stream has no epochs. Past the horizon a schedule holds its final value.
 */
export type Schedule = (step: number) => number;

export interface CosineScheduleOptions {
  base: number;
  final: number;
  /** Steps from the start to the end of the cosine (the official epochs * niter_per_ep). */
  totalSteps: number;
  warmupSteps?: number;
  /** Value at step 0 of the warm-up (official start_warmup_value, default 0). */
  startWarmup?: number;
}

/**
 * Official cosine_scheduler: warm-up = np.linspace(start, base, warmup) (both ends included), then
 * final + 0.5 (base - final) (1 + cos(pi i / (total - warmup))) for i = 0 .. total-warmup-1.
 */
export function cosineSchedule(o: CosineScheduleOptions): Schedule {
  const warm = o.warmupSteps ?? 0;
  const start = o.startWarmup ?? 0;
  const span = o.totalSteps - warm;
  if (span <= 0) throw new Error(`cosine schedule: totalSteps (${o.totalSteps}) must exceed warmupSteps (${warm})`);
  return (step: number) => {
    if (step < warm) return warm === 1 ? o.base : start + ((o.base - start) * step) / (warm - 1);
    const i = Math.min(step - warm, span - 1);
    return o.final + 0.5 * (o.base - o.final) * (1 + Math.cos((Math.PI * i) / span));
  };
}

/**
 * Official teacher temperature: np.linspace(warmup_temp, temp, warmup) (ends included), then constant temp.
 */
export function linearWarmupSchedule(from: number, to: number, warmupSteps: number): Schedule {
  return (step: number) => {
    if (step >= warmupSteps) return to;
    if (warmupSteps === 1) return to;
    return from + ((to - from) * step) / (warmupSteps - 1);
  };
}

/** Teacher momentum: cosine from base to final (official: 1) with no warm-up (official cosine_scheduler(m, 1, ...)). */
export function momentumSchedule(base: number, totalSteps: number, final = 1): Schedule {
  return cosineSchedule({ base, final, totalSteps });
}
