import { catchError, concatMap, defer, EMPTY, Observable, tap } from 'rxjs';
import type { RoleName } from '../../config/natsSchema';
import type { EmbeddingService } from '../agent/EmbeddingService';
import type { RoleContext } from './RoleContext';

/**
 * Keeps `teacher` on the current teacher of the broker: each one published is fetched, verified and loaded in one
 * exclusive step with `also` (the detectors re-embed their memories there), so no embedding round sees half a
 * swap. Emits the step loaded. The time from publication to use is on dino_scale_teacher_swap_ms{role}.
 */
export function followTeacher(
  ctx: RoleContext,
  role: RoleName,
  teacher: EmbeddingService,
  also?: () => Promise<void>,
): Observable<number> {
  const since = Date.now();
  return ctx.teachers.follow$(ctx.config.model.size).pipe(
    concatMap(({ pointer, teacher: blob, fetchMs }) =>
      defer(() =>
        teacher.exclusive(async () => {
          teacher.load(blob);
          if (also) await also();
          return blob.step;
        }),
      ).pipe(
        tap((step) => {
          ctx.scale.teachersLoaded.inc({ role });
          ctx.scale.teacherStep.set({ role }, step);
          ctx.metrics.onTeacher(step);
          const fetched = { role, step, fetchMs: Math.round(fetchMs) };
          // a teacher published before this process watched says nothing about the swap time
          if (pointer.t < since) return ctx.log.info(fetched, `${role}: teacher of step ${step} in use (published before this process started)`);
          const swapMs = Date.now() - pointer.t;
          ctx.scale.teacherSwapMs.observe({ role }, swapMs);
          ctx.log.info({ ...fetched, swapMs }, `${role}: teacher of step ${step} in use (${swapMs} ms after it was published)`);
        }),
        catchError((e: unknown) => {
          ctx.log.error({ role, err: (e as Error).message }, `${role}: teacher ${pointer.name} not loaded; keeping step ${teacher.teacherStep}`);
          return EMPTY;
        }),
      ),
    ),
  );
}
