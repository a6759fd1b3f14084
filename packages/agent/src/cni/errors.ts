/**
 * The one mapping from Terrace's error codes to CNI error codes. The plugin
 * prints whatever the agent answers, so this is where a runtime's behaviour
 * (retry on 11, give up otherwise) is decided.
 */
import { isTerraceError, type ErrorCode } from '@terrace/api';
import { CniCode, CniError } from '@terrace/cni';

const CODES: Record<ErrorCode, number> = {
  Invalid: CniCode.InvalidConfig,
  NotFound: CniCode.InvalidConfig, // a named pool that does not exist is a configuration problem
  AlreadyExists: CniCode.AlreadyExists,
  Conflict: CniCode.Conflict,
  Exhausted: CniCode.Exhausted,
  Unavailable: CniCode.TryAgainLater,
  Internal: CniCode.Internal,
};

export function cniCodeFor(code: ErrorCode): number {
  return CODES[code];
}

/** Any failure as the CNI error the plugin will print. */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (isTerraceError(e)) return new CniError(cniCodeFor(e.code), e.message, e.resource ?? '');
  return new CniError(CniCode.Internal, e instanceof Error ? e.message : String(e));
}
