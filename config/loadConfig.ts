import * as fs from 'node:fs';
import { configSchema, type AgentConfig } from './schema';
import { redactSecrets, registerSecretsOf, SECRET_KEY } from '../src/util/redactSecrets';

/** A layer of settings and where it came from, for error messages ("from --port", "from env DINO_PORT"). */
export interface ConfigLayer {
  source: string;
  values: Record<string, unknown>;
  /** Per dotted path, a more precise origin than `source` (the flag or variable that set it). */
  origins?: Record<string, string>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep merge: objects merge key by key, anything else (arrays included) is replaced by the later layer. */
export function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    out[k] = isPlain(v) && isPlain(out[k]) ? mergeDeep(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

function leaves(v: Record<string, unknown>, prefix: string, into: Map<string, string>, origin: (p: string) => string): void {
  for (const [k, x] of Object.entries(v)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (isPlain(x)) leaves(x, p, into, origin);
    else into.set(p, origin(p));
  }
}

/** Reads a JSON config file; a missing or malformed file is a ConfigError naming it. */
export function readConfigFile(file: string): ConfigLayer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`config file ${file} cannot be read: ${(e as Error).message}`]);
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`config file ${file} is not valid JSON: ${(e as Error).message}`]);
  }
  if (!isPlain(values)) throw new ConfigError([`config file ${file} must contain a JSON object`]);
  return { source: `config file ${file}`, values };
}

const ENV_ALIASES: Record<string, string> = {
  DINO_TOKEN: 'server.token',
  DINO_HOST: 'server.host',
  DINO_PORT: 'server.port',
  DINO_ALLOWED_HOSTS: 'server.allowedHosts',
  DINO_ALLOWED_ORIGINS: 'server.allowedOrigins',
  DINO_BACKEND: 'backend.name',
  DINO_PRECISION: 'backend.precision',
  DINO_MODEL: 'model.size',
  DINO_CHECKPOINT_DIR: 'checkpoint.dir',
  DINO_LOG_LEVEL: 'log.level',
  DINO_NATS_URL: 'nats.url',
  DINO_NATS_TOKEN: 'nats.token',
  DINO_NATS_PASSWORD: 'nats.password',
};

/** "8080" -> 8080, "true" -> true, '["a"]' -> ["a"], anything else stays a string. */
function parseEnvValue(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

const camel = (s: string) => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * Environment layer: the aliases above, plus DINO__SECTION__KEY for any setting
 * (DINO__TRAIN__BATCH_SIZE=32 -> train.batchSize = 32).
 */
export function envLayer(env: NodeJS.ProcessEnv = process.env): ConfigLayer {
  let values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  const set = (dotted: string, raw: string, name: string) => {
    const value = isSecretPath(dotted.split('.')) ? raw : parseEnvValue(raw);
    const obj = dotted.split('.').reduceRight<unknown>((acc, key) => ({ [key]: acc }), value) as Record<string, unknown>;
    values = mergeDeep(values, obj);
    origins[dotted] = `env ${name}`;
  };
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined) continue;
    if (ENV_ALIASES[name]) set(ENV_ALIASES[name]!, raw, name);
    else if (name.startsWith('DINO__')) set(name.slice(6).split('__').map(camel).join('.'), raw, name);
  }
  return { source: 'environment', values, origins };
}

/** Settings whose values are secrets (a token, a password, a webhook secret): kept as strings from the environment, never shown in an error. */
const isSecretPath = (path: PropertyKey[]) => SECRET_KEY.test(String(path[path.length - 1] ?? ''));

/** A value as a config error shows it: secret fields inside it masked, credentials in URLs redacted. */
function showValue(value: unknown): string {
  const mask = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(mask) : isPlain(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEY.test(k) ? '***' : mask(x)])) : v;
  return redactSecrets(JSON.stringify(mask(value)));
}

function describePath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
}

/** The value at a path; a comma-separated string indexed by number gives its item (lists from env and flags). */
function valueAt(obj: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((o, k) => {
    if (typeof o === 'string' && typeof k === 'number') return o.split(',').map((x) => x.trim()).filter((x) => x.length > 0)[k];
    return o !== null && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k] : undefined;
  }, obj);
}

/** Known keys of the object at `path` in a fully defaulted config, for "did you mean" hints. */
function knownKeys(path: PropertyKey[]): string[] {
  const defaults = configSchema.parse({}) as unknown;
  const at = valueAt(defaults, path.filter((k) => typeof k !== 'number'));
  return isPlain(at) ? Object.keys(at) : [];
}

/**
 * defaults < file < env < flags, validated with zod. Throws ConfigError listing every problem with the field, the
 * value, where it came from and what is allowed.
 */
export function resolveConfig(layers: ConfigLayer[]): AgentConfig {
  let merged: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  for (const layer of layers) {
    merged = mergeDeep(merged, layer.values);
    leaves(layer.values, '', origin, (p) => layer.origins?.[p] ?? layer.source);
  }
  // before validation: an error about any field must not show a secret held elsewhere in the settings
  registerSecretsOf(merged);
  const r = configSchema.safeParse(merged);
  if (r.success) return r.data;
  const originOf = (path: PropertyKey[]) => {
    for (let n = path.length; n > 0; n--) {
      const key = path.slice(0, n).filter((k) => typeof k !== 'number').join('.');
      const o = origin.get(key);
      if (o) return o;
    }
    // a value of the wrong shape (an object where a list belongs): where its fields came from
    const prefix = `${path.filter((k) => typeof k !== 'number').join('.')}.`;
    for (const [k, o] of origin) if (k.startsWith(prefix)) return o;
    return 'defaults';
  };
  const problems = r.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((k) => {
          const p = [...issue.path, k];
          const known = knownKeys(issue.path);
          return `${describePath(p)} (from ${originOf(p)}) is not a known setting${known.length ? `; known here: ${known.join(', ')}` : ''}`;
        })
        .join('\n  - ');
    }
    const value = valueAt(merged, issue.path);
    const shown = value === undefined ? 'missing' : isSecretPath(issue.path) ? '(value hidden)' : `= ${showValue(value)}`;
    return `${describePath(issue.path)} ${shown} (from ${originOf(issue.path)}): ${redactSecrets(issue.message)}`;
  });
  throw new ConfigError(problems);
}

export type { AgentConfig };
