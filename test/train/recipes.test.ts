import { recipe } from '../../src/train/recipes';
import { modelSize } from '../../src/model/modelSizes';

/** The recipes are plain functions of the horizon: pin the values docs/experiments.md measured. */
describe('recipes', () => {
  const model = modelSize('cifar');

  it('stream: teacher momentum starts at 0.99 whatever the horizon', () => {
    for (const horizonSteps of [100, 625, 2500, 100_000]) {
      expect(recipe('stream', { model, batchSize: 64, horizonSteps }).momentumTeacher).toBe(0.99);
    }
  });

  it('stream: teacher momentum ends at 0.996, not 1; teacher temperature 0.01 from the start', () => {
    for (const horizonSteps of [100, 2500, 100_000]) {
      const r = recipe('stream', { model, batchSize: 64, horizonSteps });
      expect(r.momentumTeacherEnd).toBe(0.996);
      expect(r.teacherTemp).toBe(0.01);
      expect(r.warmupTeacherTemp).toBe(0.01);
    }
  });

  it('stream: Sinkhorn targets, at most 1024 prototypes, warm-up 10% of the horizon capped at 200 steps', () => {
    const r = recipe('stream', { model, batchSize: 64, horizonSteps: 1500 });
    expect(r.centering).toBe('sinkhorn');
    expect(r.model.head.outDim).toBe(Math.min(model.head.outDim, 1024));
    expect(r.warmupSteps).toBe(150);
    expect(recipe('stream', { model, batchSize: 64, horizonSteps: 100_000 }).warmupSteps).toBe(200);
  });

  it('stream: drop path 0.1 on the student; paper: none', () => {
    expect(recipe('stream', { model, batchSize: 64, horizonSteps: 2500 }).dropPathRate).toBe(0.1);
    expect(recipe('paper', { model, batchSize: 64, horizonSteps: 2500 }).dropPathRate).toBe(0);
  });

  it('paper: main_dino.py defaults, whatever the horizon', () => {
    for (const horizonSteps of [100, 2500, 100_000]) {
      const r = recipe('paper', { model, batchSize: 64, horizonSteps });
      expect(r.momentumTeacher).toBe(0.996);
      expect(r.baseLr).toBe(5e-4);
    }
  });

  it('finetune: stream with a frozen backbone for 10% of the horizon (at most 300 steps), patch embedding 3x as long, lr / 8, a slow teacher', () => {
    for (const [horizonSteps, settle] of [[100, 10], [2500, 250], [100_000, 300]] as const) {
      const s = recipe('stream', { model, batchSize: 64, horizonSteps });
      const f = recipe('finetune', { model, batchSize: 64, horizonSteps });
      expect(f.baseLr).toBe(s.baseLr / 8);
      expect([f.momentumTeacher, f.momentumTeacherEnd]).toEqual([0.999, 0.9995]);
      expect([f.freezeBackboneSteps, f.freezePatchEmbedSteps, f.freezeLastLayerSteps]).toEqual([settle, 3 * settle, 0]);
      expect({ ...f, baseLr: s.baseLr, momentumTeacher: 0.99, momentumTeacherEnd: 0.996, freezeBackboneSteps: undefined, freezePatchEmbedSteps: undefined, freezeLastLayerSteps: s.freezeLastLayerSteps }).toEqual({ ...s, freezeBackboneSteps: undefined, freezePatchEmbedSteps: undefined });
    }
  });
});
