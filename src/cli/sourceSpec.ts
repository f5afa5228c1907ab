import * as fs from 'node:fs';
import type { SourceConfig } from '../../config/schema';

/**
 * A --source flag into a source config:
 *   rtsp://host/path, http(s)://..., any URL ffmpeg opens  -> url
 *   ws:cam3                                                -> websocket ingest stream "cam3"
 *   synthetic | synthetic:name                             -> synthetic camera
 *   a directory                                            -> image folder
 *   anything else                                          -> video file
 * Prefix "name=" to choose the stream id: cam1=rtsp://10.0.0.5/stream.
 */
export function parseSourceSpec(spec: string, fps?: number): SourceConfig {
  let id: string | undefined;
  let rest = spec.trim();
  const named = /^([A-Za-z0-9_.-]{1,64})=(.+)$/.exec(rest);
  if (named) {
    id = named[1];
    rest = named[2]!;
  }
  const withFps = <T extends object>(o: T) => (fps === undefined ? o : { ...o, fps });
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) return withFps({ kind: 'url', url: rest, ...(id ? { id } : {}) }) as SourceConfig;
  const ws = /^ws:(.+)$/.exec(rest);
  if (ws) return withFps({ kind: 'ws', id: id ?? ws[1]! }) as SourceConfig;
  const syn = /^synthetic(?::(.+))?$/.exec(rest);
  if (syn) return withFps({ kind: 'synthetic', id: id ?? syn[1] ?? 'synthetic' }) as SourceConfig;
  if (!fs.existsSync(rest)) {
    throw new Error(`--source ${spec}: "${rest}" is neither a URL (rtsp://...), ws:<id>, synthetic, nor an existing file or folder`);
  }
  const kind = fs.statSync(rest).isDirectory() ? 'folder' : 'file';
  return withFps({ kind, path: rest, ...(id ? { id } : {}) }) as SourceConfig;
}
