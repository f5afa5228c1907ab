import { spawnSync } from 'child_process';

/** scheme:// but not file:// (a local path given as a URL). */
export const NETWORK_URL = /^(?!file:)([a-z][a-z0-9+.-]*):\/\//i;

/**
 * Protocols ffmpeg may open for an input of each scheme: the scheme and its transports, nothing else. A playlist
 * or a redirect then cannot make ffmpeg read local files or reach other protocols.
 */
const PROTOCOLS: Record<string, string> = {
  rtsp: 'rtsp,rtp,srtp,udp,tcp',
  rtsps: 'rtsps,rtsp,rtp,srtp,udp,tcp,tls',
  http: 'http,tcp,crypto,httpproxy',
  https: 'https,http,tcp,tls,crypto,httpproxy',
  rtmp: 'rtmp,tcp',
  rtmps: 'rtmps,rtmp,tcp,tls',
  srt: 'srt,udp',
  udp: 'udp',
  rtp: 'rtp,udp',
  tcp: 'tcp',
};

const socketTimeoutOption = new Map<string, string>();

/**
 * ffmpeg's RTSP socket I/O timeout is `-timeout` from ffmpeg 5 on; before, it was `-stimeout` and `-timeout`
 * made ffmpeg listen for a camera instead (the static build of @ffmpeg-installer is from 2018). `-rw_timeout`,
 * which bounds the reads of http, rtmp, tcp and the like, is no option of the RTSP demuxer.
 */
export function rtspSocketTimeoutOption(ffmpegPath: string): string {
  let opt = socketTimeoutOption.get(ffmpegPath);
  if (!opt) {
    const r = spawnSync(ffmpegPath, ['-hide_banner', '-h', 'demuxer=rtsp'], { encoding: 'utf8', timeout: 10_000 });
    opt = /^\s*-stimeout\b/m.test(`${r.stdout}${r.stderr}`) ? '-stimeout' : '-timeout';
    socketTimeoutOption.set(ffmpegPath, opt);
  }
  return opt;
}

export interface FfmpegInputOptions {
  ffmpegPath: string;
  /** Network inputs: a read that waits longer than this fails inside ffmpeg (which then exits). */
  ioTimeoutMs: number;
  /** Network inputs: how long ffmpeg analyses the stream before the first frame. */
  analyzeMs: number;
}

/**
 * The input side of an ffmpeg command line for `url` (up to and including `-i`): a protocol whitelist for its
 * scheme; for network inputs an I/O timeout (so a silent peer cannot hold ffmpeg forever) and, for RTSP, TCP;
 * a local path as `file:<path>`, so that a name such as `-x.mp4`, `concat:a|b` or `http:x` is read as a file.
 */
export function ffmpegInputArgs(url: string, o: FfmpegInputOptions): { before: string[]; input: string[] } {
  const m = NETWORK_URL.exec(url);
  if (!m) {
    const file = /^file:/i.test(url) ? url : `file:${url}`;
    return { before: ['-protocol_whitelist', 'file'], input: ['-i', file] };
  }
  const scheme = m[1]!.toLowerCase();
  const us = String(Math.round(o.ioTimeoutMs * 1000));
  const a = ['-protocol_whitelist', PROTOCOLS[scheme] ?? `${scheme},tcp,tls,udp`];
  // the RTSP demuxer refuses -rw_timeout ("Option rw_timeout not found") and has its own socket timeout
  if (scheme === 'rtsp' || scheme === 'rtsps') a.push('-rtsp_transport', 'tcp', rtspSocketTimeoutOption(o.ffmpegPath), us);
  else a.push('-rw_timeout', us);
  a.push('-analyzeduration', String(Math.round(o.analyzeMs * 1000)));
  return { before: a, input: ['-i', url] };
}
