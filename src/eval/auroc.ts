/**
 * Threshold-free metrics for novelty scores (higher score = more novel; positives = novel samples).
 * AUROC is the Mann-Whitney U statistic divided by n_pos * n_neg, with mid-ranks so that a tie between a
 * positive and a negative counts 1/2: it is the probability that a random positive outscores a random
 * negative. O((P + N) log(P + N)).
 */

export function auroc(scoresPositive: ArrayLike<number>, scoresNegative: ArrayLike<number>): number {
  const p = scoresPositive.length;
  const n = scoresNegative.length;
  if (p === 0 || n === 0) throw new Error('auroc: need at least one positive and one negative score');
  const all: { s: number; pos: boolean }[] = [];
  for (let i = 0; i < p; i++) all.push({ s: checked(scoresPositive[i]!), pos: true });
  for (let i = 0; i < n; i++) all.push({ s: checked(scoresNegative[i]!), pos: false });
  all.sort((a, b) => a.s - b.s);
  let rankSumPos = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const midRank = (i + 1 + j) / 2; // 1-based ranks i+1..j share their mean
    for (let q = i; q < j; q++) if (all[q]!.pos) rankSumPos += midRank;
    i = j;
  }
  return (rankSumPos - (p * (p + 1)) / 2) / (p * n);
}

/**
 * False-positive rate at the highest threshold whose true-positive rate reaches `tpr` (OOD literature's
 * FPR@95TPR): flag score >= threshold; tied scores are flagged together, as on a ROC curve.
 */
export function fprAtTpr(scoresPositive: ArrayLike<number>, scoresNegative: ArrayLike<number>, tpr = 0.95): number {
  const p = scoresPositive.length;
  const n = scoresNegative.length;
  if (p === 0 || n === 0) throw new Error('fprAtTpr: need at least one positive and one negative score');
  if (!(tpr > 0 && tpr <= 1)) throw new Error('fprAtTpr: tpr must be in (0, 1]');
  const pos = Array.from(scoresPositive, checked).sort((a, b) => b - a);
  const neg = Array.from(scoresNegative, checked).sort((a, b) => b - a);
  // Smallest number of positives that reaches the target rate (epsilon guards 0.95 * 20 = 18.999...).
  const need = Math.ceil(tpr * p - 1e-9);
  const threshold = pos[need - 1]!;
  let fp = 0;
  while (fp < n && neg[fp]! >= threshold) fp++;
  return fp / n;
}

function checked(s: number): number {
  if (Number.isNaN(s)) throw new Error('auroc: NaN score');
  return s;
}
