/**
 * One error family for the whole project. Every failure that reaches a user
 * is a TerraceError with a stable code; the code is mapped once to a CLI exit
 * status (exitCodeFor), and later to CNI error codes and gRPC statuses.
 *
 * Messages name what was wrong and where, in one line:
 *   ippool/pool-b: spec.cidr 10.244.0.0/15 overlaps ippool/pool-a (10.244.0.0/16)
 */
export type ErrorCode =
  | 'Invalid' // the input is malformed or breaks a validation rule
  | 'NotFound' // the named resource does not exist
  | 'AlreadyExists' // create of a resource that exists
  | 'Conflict' // stale resourceVersion, lost a race, or a cross-resource rule (overlap)
  | 'Exhausted' // no address or block left to allocate
  | 'Unavailable' // the datastore (or another daemon) cannot be reached
  | 'Internal'; // a bug or an impossible state

export class TerraceError extends Error {
  readonly code: ErrorCode;
  /** The resource the error is about, as `kind/name`, when there is one. */
  readonly resource: string | undefined;
  /** The field path (e.g. `spec.cidr`) the error is about, when there is one. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { resource?: string; field?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TerraceError';
    this.code = code;
    this.resource = opts.resource;
    this.field = opts.field;
  }
}

/** How many characters of a user's value a message shows before cutting it. */
export const QUOTE_MAX = 80;

function cut(text: string): string {
  if (text.length <= QUOTE_MAX) return text;
  let head = text.slice(0, QUOTE_MAX);
  // Never end on half of a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  return `${head}…`;
}

/**
 * A value from the user as every error message shows it: JSON-quoted, and
 * when long, cut to QUOTE_MAX characters with the full length after it, so
 * that a 5 MB label value yields a one-line message:
 * `"aaaa…" (5242880 characters)`. Values that are not strings are shown as
 * JSON, cut the same way.
 */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const shown = typeof value === 'string' ? JSON.stringify(cut(text)) : cut(text);
  return text.length <= QUOTE_MAX ? shown : `${shown} (${text.length} characters)`;
}

/** Control characters, which would break a message's single line. */
const CONTROL = /[\u0000-\u001f\u007f]/g;

/**
 * The same cut without quotes, for a name inside a reference like
 * `ippool/<name>`. Control characters are shown as `\u000d` escapes so the
 * message stays one line (a name holding one is invalid, and must say so).
 */
export function shorten(text: string): string {
  const shown = text.length <= QUOTE_MAX ? text : `${cut(text)} (${text.length} characters)`;
  return shown.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A validation failure about one field of one resource. */
export function invalidField(resource: string | undefined, field: string, reason: string): TerraceError {
  const where = resource ? `${resource}: ${field}` : field;
  return new TerraceError('Invalid', `${where} ${reason}`, { resource, field });
}

export function isTerraceError(e: unknown, code?: ErrorCode): e is TerraceError {
  return e instanceof TerraceError && (code === undefined || e.code === code);
}

/** CLI exit codes: 0 ok, 1 invalid input or conflict, 2 datastore unreachable, 3 internal. */
export function exitCodeFor(e: unknown): number {
  if (!(e instanceof TerraceError)) return 3;
  switch (e.code) {
    case 'Unavailable':
      return 2;
    case 'Internal':
      return 3;
    default:
      return 1;
  }
}
