import { applyOverrides } from '../../src/eval/evalTrainer';
import { EvalInputError } from '../../src/eval/EvalInputError';
import { modelSize } from '../../src/model/modelSizes';
import { recipe } from '../../src/train/recipes';

// pure option handling: no tensors are made here
describe('applyOverrides (--set)', () => {
  const base = recipe('stream', { model: modelSize('micro'), batchSize: 8, horizonSteps: 100 });

  test('sets numbers, words and nested options without touching the input', () => {
    const o = applyOverrides(base, { koleoWeight: 0.1, koleoSchedule: 'cosine', 'model.head.outDim': 256, momentumTeacherEnd: 1 });
    expect(o.koleoWeight).toBe(0.1);
    expect(o.momentumTeacherEnd).toBe(1);
    expect(base.momentumTeacherEnd).toBe(0.996);
    expect(o.koleoSchedule).toBe('cosine');
    expect(o.model.head.outDim).toBe(256);
    expect(base.koleoSchedule).toBe('constant');
    expect(base.model.head.outDim).not.toBe(256);
  });

  test('refuses an unknown path, a wrong type and a word outside the choices, naming the option', () => {
    expect(() => applyOverrides(base, { koleoWieght: 0.1 })).toThrow(/--set koleoWieght: unknown trainer option; known here: .*koleoWeight/);
    expect(() => applyOverrides(base, { 'model.head.outDimm': 1 })).toThrow(/known here: .*outDim/);
    expect(() => applyOverrides(base, { koleoWeight: 'high' })).toThrow(/--set koleoWeight: expected a number, got "high"/);
    expect(() => applyOverrides(base, { koleoSchedule: 'cosin' })).toThrow(/--set koleoSchedule: expected one of constant, cosine, got "cosin"/);
    expect(() => applyOverrides(base, { centering: 'centre' })).toThrow(/expected one of center, sinkhorn/);
    expect(() => applyOverrides(base, { 'koleoWeight.x': 1 })).toThrow(EvalInputError);
  });
});
