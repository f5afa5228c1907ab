import type { LoggerOptions } from 'pino';

/**
 * Credentials never leave the process: every place where a URL or an error becomes text (logs, camera events,
 * the dashboard's history, metric labels, error messages, ffmpeg's stderr) passes it through redactSecrets.
 *
 * Three rules, each idempotent:
 *  - the user-info of any URL ("rtsp://admin:pw@cam/live" -> "rtsp://***@cam/live"), with or without a password,
 *    and "user:password@host" without a scheme;
 *  - the values of query parameters named like secrets ("?token=...", "&password=...", "&apikey=...");
 *  - any string registered with registerSecret (the passwords of configured URLs, the server token), in whatever
 *    other form a tool prints them.
 */
export const REDACTED = '***';

// scheme://user-info@ (or one slash or three: typos ffmpeg forgives): the user-info may hold anything but white space and '/' (ffmpeg accepts unencoded ':', '@', '?').
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/+)[^\s/"'<>]*@(?=[^\s/@"'<>]*(?:[\s/"'<>]|$))/gi;
// user:password@host without a scheme (a --source typo, a config value): a colon in the user-info is the tell.
const BARE_USERINFO = /(^|[\s"'=(,])[^\s"'/:@=(,]+:[^\s"'/@]+@(?=[A-Za-z0-9[])/g;
const SECRET_PARAM = /([?&;](?:[a-z0-9_-]*(?:pass(?:word)?|passwd|pwd|token|secret|api[_-]?key|access[_-]?key|auth|sig(?:nature)?|credential)[a-z0-9_-]*)=)[^&#\s"'<>]*/gi;

const known = new Set<string>();
let knownPattern: RegExp | undefined;

/** Registers a secret to be replaced wherever it appears (kept in memory only). Strings shorter than 4 characters are ignored: they would mask ordinary text. */
export function registerSecret(secret: string | undefined): void {
  if (!secret || secret.length < 4 || known.has(secret)) return;
  known.add(secret);
  const forms = [...known].flatMap((s) => [s, encodeURIComponent(s)]).sort((a, b) => b.length - a.length);
  knownPattern = new RegExp([...new Set(forms)].map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
}

/** Registers the user and password of a URL (as written and percent-decoded). */
export function registerUrlCredentials(url: string): void {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#\s]*)@/i.exec(url.trim());
  if (!m) return;
  const userinfo = m[1]!;
  const colon = userinfo.indexOf(':');
  const parts = colon < 0 ? [userinfo] : [userinfo.slice(colon + 1)]; // a user name alone may be a token; with a password, the password
  for (const p of parts) {
    registerSecret(p);
    try {
      registerSecret(decodeURIComponent(p));
    } catch {
      // not valid percent-encoding: the raw form is registered
    }
  }
}

/**
 * Registers the path and query of a URL that is itself the credential (a webhook: Home Assistant's
 * /api/webhook/<id>, Slack's /services/...): only its origin is ever shown.
 */
export function registerUrlPath(url: string): void {
  try {
    const u = new URL(url);
    const rest = `${u.pathname === '/' ? '' : u.pathname}${u.search}`;
    // a short path ("/hook") carries no credential and, registered, would mask ordinary text
    if (rest.length >= 8) registerSecret(rest);
  } catch {
    // not a URL: nothing to register (the config schema names the field)
  }
}

/**
 * Registers every secret a settings object holds, at any depth: the string values of fields named like secrets
 * (SECRET_KEY: a token, a password, a webhook secret), the credentials of URLs with user-info, and the paths of
 * webhook URLs. The whole configuration goes through here, so a secret field added later is covered without naming it.
 */
export function registerSecretsOf(value: unknown, depth = 0, inWebhooks = false): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') {
      if (SECRET_KEY.test(k)) registerSecret(v);
      if (inWebhooks && k === 'url') registerUrlPath(v);
      registerUrlCredentials(v);
    } else registerSecretsOf(v, depth + 1, inWebhooks || k === 'webhooks');
  }
}

/** The text with every credential replaced by "***". */
export function redactSecrets(text: string): string {
  let out = text.replace(URL_USERINFO, `$1${REDACTED}@`).replace(BARE_USERINFO, `$1${REDACTED}@`).replace(SECRET_PARAM, `$1${REDACTED}`);
  if (knownPattern) out = out.replace(knownPattern, REDACTED);
  return out;
}

/** redactSecrets on every string inside a plain value (log objects): arrays and plain objects are copied, Errors become their redacted message and stack. */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) {
    const e = { type: value.name, message: redactSecrets(value.message), stack: value.stack ? redactSecrets(value.stack) : undefined };
    return e as T;
  }
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1)) as T;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value; // Buffers, typed arrays, class instances
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth + 1);
  return out as T;
}

/** Field names whose values are secrets wherever they appear (config errors show them as "***"). */
export const SECRET_KEY = /token|password|passwd|secret|api[_-]?key|credential/i;

/** pino options that pass every log line through redactSecrets: the message strings and the logged object. */
export const redactingLogOptions: Pick<LoggerOptions, 'hooks' | 'formatters'> = {
  hooks: {
    logMethod(args, method) {
      const clean = args.map((a: unknown) => (typeof a === 'string' ? redactSecrets(a) : a)) as typeof args;
      return method.apply(this, clean);
    },
  },
  formatters: { log: (obj) => redactDeep(obj) },
};
