import type { Command } from 'commander';
import { envLayer, readConfigFile, resolveConfig, ConfigError, type ConfigLayer } from '../../config/loadConfig';
import { parseSourceSpec } from './sourceSpec';
import { Agent } from '../agent/Agent';
import { superviseAgent } from './superviseAgent';
import { redactSecrets } from '../util/redactSecrets';
import { ScaleNode } from '../scale/ScaleNode';

interface RunFlags {
  config?: string;
  source?: string[];
  fps?: string;
  checkpointDir?: string;
  backend?: string;
  precision?: string;
  port?: string;
  host?: string;
  allowedHost?: string[];
  allowedOrigin?: string[];
  openIngest?: boolean;
  model?: string;
  init?: string;
  recipe?: string;
  batch?: string;
  resume?: boolean;
  train?: boolean;
  logLevel?: string;
  logFormat?: string;
  nats?: string;
  role?: string;
  shard?: string;
  instance?: string;
  mqtt?: string;
}

/** Flags as a config layer, each value remembering which flag set it (for error messages). */
export function flagsLayer(f: RunFlags): ConfigLayer {
  const values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  const set = (dotted: string, value: unknown, flag: string) => {
    if (value === undefined) return;
    const keys = dotted.split('.');
    let at = values;
    for (const k of keys.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[keys[keys.length - 1]!] = value;
    origins[dotted] = `flag ${flag}`;
  };
  // numbers are passed through as typed so zod reports "abc" as not a number, naming the flag
  const num = (s: string | undefined) => (s === undefined ? undefined : s.trim() !== '' && !Number.isNaN(Number(s)) ? Number(s) : s);
  if (f.source?.length) set('sources', f.source.map((s) => parseSourceSpec(s, num(f.fps) as number | undefined)), '--source');
  set('checkpoint.dir', f.checkpointDir, '--checkpoint-dir');
  set('backend.name', f.backend, '--backend');
  set('backend.precision', f.precision, '--precision');
  set('server.port', num(f.port), '--port');
  set('server.host', f.host, '--host');
  if (f.allowedHost?.length) set('server.allowedHosts', f.allowedHost, '--allowed-host');
  if (f.allowedOrigin?.length) set('server.allowedOrigins', f.allowedOrigin, '--allowed-origin');
  if (f.openIngest) set('server.openIngest', true, '--open-ingest');
  set('model.size', f.model, '--model');
  set('model.init', f.init, '--init');
  set('train.recipe', f.recipe, '--recipe');
  set('train.batchSize', num(f.batch), '--batch');
  if (f.resume === false) set('checkpoint.resume', false, '--no-resume');
  if (f.train === false) set('train.enabled', false, '--no-train');
  set('log.level', f.logLevel, '--log-level');
  set('log.format', f.logFormat, '--log-format');
  set('nats.url', f.nats, '--nats');
  set('nats.roles', f.role, '--role');
  set('nats.detectShard', f.shard, '--shard');
  set('nats.instance', f.instance, '--instance');
  set('notify.mqtt.url', f.mqtt, '--mqtt');
  return { source: 'command-line flags', values, origins };
}

/** defaults < --config file (or DINO_CONFIG) < environment < flags. */
export function configFromFlags(f: RunFlags, env: NodeJS.ProcessEnv = process.env) {
  const layers: ConfigLayer[] = [];
  const file = f.config ?? env['DINO_CONFIG'];
  if (file) layers.push(readConfigFile(file));
  layers.push(envLayer(env), flagsLayer(f));
  return resolveConfig(layers);
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Run the agent: ingest the sources, train the ViT online with DINO, serve embeddings, events and the dashboard')
    .option('-c, --config <file>', 'JSON configuration file (see config/default.json); env DINO_CONFIG')
    .option(
      '-s, --source <spec>',
      'an input, repeatable: rtsp://... (any URL ffmpeg reads), a video file, an image folder, ws:<id> (websocket ingest), synthetic; prefix name= to set its stream id',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--fps <n>', 'frames per second used from each --source')
    .option('--checkpoint-dir <dir>', 'where checkpoints are written and resumed from')
    .option('--backend <name>', 'tfjs backend: auto, tensorflow, webgpu, wasm or cpu')
    .option('--precision <p>', 'matmul precision: auto (bf16 where the CPU has AVX512_BF16), fp32 or bf16; env DINO_PRECISION')
    .option('-p, --port <port>', 'HTTP/ws port of the dashboard and the API (0 = any free port)')
    .option('--host <host>', 'address to listen on (beyond 127.0.0.1 a token is required: env DINO_TOKEN)')
    .option('--allowed-host <name>', 'a Host name the server answers to besides loopback and --host (repeatable; .example.com: a domain; env DINO_ALLOWED_HOSTS)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--allowed-origin <origin>', 'a page origin that may use the API besides the same origin and loopback (repeatable; env DINO_ALLOWED_ORIGINS)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--open-ingest', 'accept /ingest/<id> for any id, not only ws:<id> sources (at most server.maxStreams of them, least recently used forgotten)')
    .option('--model <size>', 'model size: micro, small, tiny, cifar; small-conv, cifar-conv (a convolutional stem); vits16, vits14, vits8 (the pretrained shapes)')
    .option('--init <file>', 'start from pretrained weights: a DINO .pth or a DINOv2 model.safetensors (with --model of its shape)')
    .option('--recipe <name>', 'training recipe: stream (tuned for live feeds), paper (the DINO paper defaults) or finetune (for --init)')
    .option('--batch <n>', 'images per training step (default 16; vits16 and vits14: 8, vits8: 2, what fits the wasm heap)')
    .option('--no-resume', 'start from a fresh model even if the checkpoint dir has a checkpoint')
    .option('--no-train', 'only embed and detect with the loaded teacher; do not train')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--mqtt <url>', 'publish events to an MQTT broker, mqtt://host:port (credentials: notify.mqtt in the config file)')
    .option('--log-format <format>', 'pretty (readable lines) or json (one object per line, for log collectors)')
    .option('--nats <url>', 'scale out over a NATS JetStream broker (nats://host:4222); env DINO_NATS_URL')
    .option('--role <roles>', 'with --nats: the roles of this process, a comma list of ingest, embed, train, detect, gateway, or all')
    .option('--shard <i/n>', 'with --role detect: this process\'s shard of the streams (0/2 and 1/2 for two detect processes)')
    .option('--instance <name>', 'with --nats: this process\'s name in health reports and metrics (default hostname-pid)')
    .action(async (flags: RunFlags) => {
      let agent: Agent | ScaleNode;
      try {
        const config = configFromFlags(flags);
        agent = config.nats.url ? new ScaleNode(config) : new Agent(config);
      } catch (e) {
        if (e instanceof ConfigError || (e instanceof Error && e.message.startsWith('--source'))) {
          console.error(`dino-stream: ${redactSecrets(e.message)}`);
          process.exit(2);
        }
        throw e;
      }
      superviseAgent(agent);
      try {
        await agent.start();
      } catch (e) {
        agent.log.fatal({ err: (e as Error).message }, 'agent failed to start');
        await agent.stop().catch(() => undefined);
        process.exit(1);
      }
    });
}
