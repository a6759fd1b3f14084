/**
 * Secrets out of a diagnostics bundle. Two passes, both pure:
 * - structure: a string under a field whose name says secret (`password`,
 *   `token`, ...) is replaced. References to secrets (`secretKeyRef`: a
 *   secret's name and key) are not secrets and stay, since they say where a
 *   password comes from.
 * - text: every known secret value (the etcd password in use, the contents
 *   of a node's secret files when diags is given --secrets-dir) is replaced
 *   wherever it appears, and `password=...`-like pairs in log lines lose
 *   their value.
 */
export const REDACTED = '<redacted>';

const SECRET_FIELD = /pass(word|phrase|wd)?$|secret$|token$|credential|private.?key/i;

/** A copy of `v` with every string under a secret-named field replaced. */
export function redactValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactValue);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELD.test(k) && (typeof x === 'string' || typeof x === 'number') ? REDACTED : redactValue(x);
  return out;
}

/** `password=hunter2`, `"password":"hunter2"`, `--etcd-password hunter2`: the value goes. */
const SECRET_PAIR = /((?:pass(?:word|phrase|wd)?|secret|token)["']?\s*(?:[=:]|\s)\s*["']?)([^\s"',{}[\]]+)/gi;

/** `text` with every known secret and every secret-looking pair's value replaced. */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret containing another is replaced whole.
  for (const s of [...new Set(secrets)].filter((x) => x.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
  return out.replace(SECRET_PAIR, (_m, key: string, value: string) => (value === REDACTED ? `${key}${value}` : `${key}${REDACTED}`));
}
