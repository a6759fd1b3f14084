/**
 * The parts of the CNI specification (1.1) both sides of the plugin socket
 * need: versions we speak, the spec's error codes and ours, and the error
 * value the plugin prints. Kept free of runtime imports: the plugin loads it
 * on every call and its cold start is measured.
 */

/** Versions whose configuration and result formats we accept and produce. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export function isSupportedVersion(v: string): v is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Compares dotted versions numerically: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';
export const CNI_COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];

/** The first version that defines each command (CHECK came with 0.4.0, GC and STATUS with 1.1.0). */
export const COMMAND_SINCE: Record<CniCommand, string> = {
  ADD: '0.1.0',
  DEL: '0.1.0',
  VERSION: '0.1.0',
  CHECK: '0.4.0',
  GC: '1.1.0',
  STATUS: '1.1.0',
};

/**
 * Error codes. 1–99 are the spec's (only those we emit are listed); 100 and
 * up are Terrace's own, one per TerraceError code so that an operator can
 * tell an exhausted pool from a conflict without reading the message.
 */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  NotAvailableDamaged: 51,
  /** No address or block left in the pools this pod may use. */
  Exhausted: 100,
  /** A concurrent change won (retries were exhausted). */
  Conflict: 101,
  /** CHECK: the allocation or a piece of the wiring is missing or wrong. */
  CheckFailed: 102,
  /** The interface cannot be created because something else holds its name. */
  AlreadyExists: 103,
  /** The agent answered with something the plugin does not understand. */
  Protocol: 104,
  /** A bug or an impossible state in the agent. */
  Internal: 110,
} as const;
export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

/** A failure the plugin reports as the spec's error JSON. */
export class CniError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(code: number, msg: string, details = '') {
    super(msg);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }
}

/** How many characters of a runtime's value an error message shows. */
export const SHOWN_MAX = 64;

/**
 * A value from the runtime as error messages show it: a string JSON-quoted
 * (so that a newline in it cannot split the message) and cut to SHOWN_MAX
 * characters; other values by their type, never walked.
 */
export function shown(v: unknown): string {
  if (typeof v === 'string') return v.length <= SHOWN_MAX ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, SHOWN_MAX))}… (${v.length} characters)`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

/** A name or token from the runtime (a member's key, an IP= value): as it is when plain, else shown(). */
export function bare(v: string): string {
  return v.length <= SHOWN_MAX && /^[A-Za-z0-9_./:=,+@-]+$/.test(v) ? v : shown(v);
}

/** The error object the spec asks for, printed on stdout with a non-zero exit. */
export function errorJson(cniVersion: string, e: CniError): string {
  const out: Record<string, unknown> = { cniVersion, code: e.code, msg: e.message };
  if (e.details) out.details = e.details;
  return JSON.stringify(out);
}
