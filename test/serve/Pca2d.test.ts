import { Pca2d } from '../../src/serve/Pca2d';

/** Points with variance 9 along axis 3, 4 along axis 7, tiny elsewhere, in 32-D. */
function planted(n: number, seed: number, d = 32): Float32Array[] {
  let s = seed;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    return (s >>> 0) / 2 ** 32 - 0.5;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 0.5 + 1e-12)) * Math.cos(2 * Math.PI * (rnd() + 0.5));
  return Array.from({ length: n }, () => {
    const v = new Float32Array(d);
    for (let j = 0; j < d; j++) v[j] = 0.01 * gauss();
    v[3] = 3 * gauss() + 1;
    v[7] = 2 * gauss() - 2;
    return v;
  });
}

describe('Pca2d', () => {
  it('finds the planted components and their share of the variance', () => {
    const p = new Pca2d({ capacity: 300 });
    planted(300, 1).forEach((v, i) => p.add(i % 2 ? 'a' : 'b', v));
    const r = p.compute()!;
    const [v1, v2] = p.basis()!;
    // Reference: the data is 2-D up to 0.01 noise, so the sample PCA is the eigen-decomposition of the 2x2
    // covariance of coordinates 3 and 7 (which is not exactly axis-aligned for a finite sample).
    const data = planted(300, 1);
    const m3 = data.reduce((s, v) => s + v[3]!, 0) / 300;
    const m7 = data.reduce((s, v) => s + v[7]!, 0) / 300;
    let a = 0, b = 0, c = 0;
    for (const v of data) {
      a += (v[3]! - m3) ** 2;
      b += (v[3]! - m3) * (v[7]! - m7);
      c += (v[7]! - m7) ** 2;
    }
    const theta = 0.5 * Math.atan2(2 * b, a - c); // angle of the first eigenvector in the (3, 7) plane
    const cosSim1 = Math.abs(v1[3]! * Math.cos(theta) + v1[7]! * Math.sin(theta));
    const cosSim2 = Math.abs(-v2[3]! * Math.sin(theta) + v2[7]! * Math.cos(theta));
    expect(cosSim1).toBeGreaterThan(0.9999);
    expect(cosSim2).toBeGreaterThan(0.9999);
    expect(Math.abs(v1[3]!)).toBeGreaterThan(0.95);
    expect(r.explained[0]).toBeGreaterThan(0.6);
    expect(r.explained[0] + r.explained[1]).toBeGreaterThan(0.99);
    expect(r.streams.sort()).toEqual(['a', 'b']);
    expect(r.x).toHaveLength(300);
    // Projections are centred.
    expect(Math.abs(r.x.reduce((a, b) => a + b, 0) / 300)).toBeLessThan(1e-9);
  });

  it('keeps component signs stable between updates, and warm starts converge fast', () => {
    const p = new Pca2d({ capacity: 200 });
    const data = planted(400, 2);
    data.slice(0, 200).forEach((v) => p.add('s', v));
    p.compute();
    const [a1, a2] = p.basis()!;
    for (let k = 0; k < 10; k++) {
      // The window slides by 20 points; refresh each time.
      data.slice(200 + 20 * k, 220 + 20 * k).forEach((v) => p.add('s', v));
      const r = p.compute()!;
      const [b1, b2] = p.basis()!;
      const dot = (x: Float64Array, y: Float64Array) => x.reduce((s, v, i) => s + v * y[i]!, 0);
      // The sample axes wander a little as the window slides; what matters is that they never flip (dot ~ -1).
      expect(dot(a1, b1)).toBeGreaterThan(0.9);
      expect(dot(a2, b2)).toBeGreaterThan(0.9);
      expect(r.iterations).toBeLessThan(30);
    }
  });

  it('copes with tiny and degenerate inputs and a change of dimension', () => {
    const p = new Pca2d({ capacity: 10 });
    expect(p.compute()).toBeUndefined();
    for (let i = 0; i < 5; i++) p.add('s', new Float32Array([i, 0, 0])); // rank 1
    const r = p.compute()!;
    expect(r.explained[0]).toBeCloseTo(1, 6);
    expect(r.y.every((y) => Math.abs(y) < 1e-9)).toBe(true);
    p.add('s', new Float32Array(8)); // new model size: the window restarts
    expect(p.size).toBe(1);
  });
});
