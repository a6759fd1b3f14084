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

const SECRET_FIELD = /pass(word|phrase|wd)?$|secret$|token$|credential|private.?key|md5$|auth.?key$/i;

/** A copy of `v` with every string under a secret-named field replaced. */
export function redactValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactValue);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELD.test(k) && (typeof x === 'string' || typeof x === 'number') ? REDACTED : redactValue(x);
  return out;
}

/**
 * `password=hunter2`, `"password":"hunter2"`, `--etcd-password hunter2`,
 * `md5 "k"`, `authKey: k`: the value goes. A quoted value goes up to its
 * closing unescaped quote (commas, spaces and escaped quotes are part of
 * it); an unquoted one to the end of the token.
 */
const SECRET_PAIR = /((?:pass(?:word|phrase|wd)?|secret|token|md5|auth[_-]?key)["']?\s*(?:[=:]|\s)\s*)("(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|[^\s{[]\S*)/gi;

function redactPairValue(value: string): string {
  const q = value[0];
  if (q === '"' || q === "'") return `${q}${REDACTED}${value.length > 1 && value.endsWith(q) ? q : ''}`;
  return REDACTED;
}

/** A secret as it appears in text: raw, and escaped inside a JSON string (quotes, backslashes, newlines). */
function forms(secret: string): string[] {
  const escaped = JSON.stringify(secret).slice(1, -1);
  return escaped === secret ? [secret] : [secret, escaped];
}

/** `text` with every known secret and every secret-looking pair's value replaced. */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  const all = [...new Set(secrets.filter((x) => x.length >= 4).flatMap(forms))];
  // Longest first, so a secret containing another is replaced whole.
  for (const s of all.sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
  return out.replace(SECRET_PAIR, (_m, key: string, value: string) => `${key}${redactPairValue(value)}`);
}
