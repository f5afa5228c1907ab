import type { StatsMessage } from '../types/messages';

/** One human-readable line for the console every few seconds. */
export function statusLine(s: StatsMessage | undefined, extra: { teacherStep: number; clients: number; streams: Record<string, { fps: number; dropped: number; state?: string }> }): string {
  const cams = Object.entries(extra.streams)
    .map(([id, c]) => `${id} ${c.fps.toFixed(1)} fps${c.dropped ? ` (${c.dropped} dropped)` : ''}${c.state && c.state !== 'live' ? ` [${c.state}]` : ''}`)
    .join(', ');
  const train = s
    ? `step ${s.step} | ${s.imagesPerSec.toFixed(1)} img/s | loss ${s.loss.toFixed(3)} (${s.lossOverLnK.toFixed(2)} ln K) | entropy ${s.teacherEntropy.toFixed(2)} | std ${s.embeddingStd.toFixed(3)} (healthy ~${s.healthyStd.toFixed(3)})`
    : 'training: waiting for frames';
  return `${train} | ${cams || 'no streams yet'} | teacher @${extra.teacherStep} | ${extra.clients} client${extra.clients === 1 ? '' : 's'}`;
}
