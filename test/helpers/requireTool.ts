import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import * as path from 'node:path';
import { resolveFfmpegPath } from '../../streams/sources/ffmpegPath';
import { CHROMIUM } from './browser';

/** System tools some tests need; none of them is needed to run the product. */
export type Tool = 'ffmpeg' | 'chromium' | 'gst-rtsp-server' | 'nats-server' | 'mosquitto' | 'python3-torch' | 'mesa';

const onPath = (bin: string): boolean =>
  (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
const runs = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;

/** How to tell each tool is there, and the Debian packages that bring it (the ones .ci/run installs). */
const TOOLS: Record<Tool, { present: () => boolean; apt: string }> = {
  ffmpeg: { present: () => runs(resolveFfmpegPath(), ['-version']), apt: 'ffmpeg' },
  chromium: { present: () => existsSync(CHROMIUM), apt: 'chromium' },
  'gst-rtsp-server': {
    // the stand-in camera (test/fixtures/rtspCamera.py) runs on Debian's python3 and its GStreamer bindings
    present: () =>
      runs('/usr/bin/python3', ['-c', "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0'); from gi.repository import Gst, GstRtspServer"]),
    apt: 'python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav',
  },
  'nats-server': { present: () => onPath('nats-server'), apt: 'nats-server' },
  mosquitto: { present: () => onPath('mosquitto') || existsSync('/usr/sbin/mosquitto'), apt: 'mosquitto' },
  'python3-torch': { present: () => runs('/usr/bin/python3', ['-c', 'import torch']), apt: 'python3-torch' },
  // Mesa's EGL and llvmpipe, and the unversioned libEGL.so that Dawn (the webgpu backend) loads
  mesa: {
    present: () => runs('sh', ['-c', 'ldconfig -p | grep -q libEGL_mesa && ldconfig -p | grep -q "libEGL.so "']),
    apt: 'libegl-mesa0 libgl1-mesa-dri libgles2 libegl-dev',
  },
};

const known = new Map<Tool, boolean>();
/** Whether a system tool is installed (looked at once per test file). */
export const hasTool = (t: Tool): boolean => {
  if (!known.has(t)) known.set(t, TOOLS[t].present());
  return known.get(t)!;
};

type Suite = (name: string, fn: () => void) => void;

/** The parts of jest a suite is declared with (replaced by fakes in the helper's own test). */
export interface JestApi {
  describe: Suite & { skip: Suite };
  test: (name: string, fn: () => void) => void;
  warn: (msg: string) => void;
}
const JEST: JestApi = { describe, test, warn: (m) => console.warn(m) };

/**
 * `describe` for tests that need system tools. With every tool present it is jest's describe. Without one, the
 * suite is skipped with a message saying what to install; but when `CI` is set it fails instead, so that CI (which
 * installs them, .ci/run) never passes by skipping.
 *
 *   requireTool('chromium')('the dashboard in a browser', () => { ... });
 */
export function requireTool(...tools: Tool[]): Suite {
  return toolSuite(tools.filter((t) => !hasTool(t)), Boolean(process.env['CI']));
}

/** requireTool's decision, given which tools are missing and whether this is CI. */
export function toolSuite(missing: Tool[], ci: boolean, jest: JestApi = JEST): Suite {
  if (missing.length === 0) return (name, fn) => jest.describe(name, fn);
  const apt = missing.map((t) => TOOLS[t].apt).join(' ');
  const message = `needs ${missing.join(', ')}, not found on this machine: apt-get install -y ${apt} (.ci/run installs them)`;
  if (ci) {
    return (name) =>
      jest.describe(name, () => {
        jest.test('has its system tools (CI is set: a missing tool fails instead of skipping)', () => {
          throw new Error(message);
        });
      });
  }
  return (name, fn) => {
    jest.warn(`skipping "${name}": ${message}`);
    jest.describe.skip(name, fn);
  };
}
