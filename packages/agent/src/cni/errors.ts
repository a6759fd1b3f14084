/**
 * The one mapping from failures to CNI error codes. The plugin prints what
 * the agent answers (it adds only "agent unreachable", code 11, and "not
 * ready", code 50), so this table is where a runtime's behaviour is decided:
 * 11 means "the same call may work later", anything else "it will not".
 *
 * | failure                                               | code |
 * |-------------------------------------------------------|------|
 * | CNI_* variable missing or malformed, CNI_NETNS not a  |  4   |
 * | usable namespace (missing, a file, the node's own)    |      |
 * | network config not JSON / not an object               |  6   |
 * | config member wrong, named pool unknown, config too   |  7   |
 * | large, an address asked for that no pool may give    |      |
 * | config member unknown / unsupported                   |  2   |
 * | cniVersion not spoken                                 |  1   |
 * | etcd unreachable, slow or refusing us; a concurrent   |  11  |
 * | change won every retry                                |      |
 * | STATUS: etcd or the BGP speaker not answering         |  50  |
 * | no address left in the pools this pod may use         |  100 |
 * | CHECK found the wiring or the allocation wrong        |  102 |
 * | the interface name is taken in the pod                |  103 |
 * | anything else (a bug)                                 |  110 |
 *
 * Messages are one line: a runtime shows them in a single event line.
 */
import { isTerraceError, type ErrorCode, type TerraceError } from '@terrace/api';
import { CniCode, CniError } from '@terrace/cni';

const CODES: Record<ErrorCode, number> = {
  Invalid: CniCode.InvalidConfig,
  NotFound: CniCode.InvalidConfig, // a named pool that does not exist is a configuration problem
  AlreadyExists: CniCode.AlreadyExists,
  Conflict: CniCode.TryAgainLater, // retries ran out against other writers: transient by nature
  Exhausted: CniCode.Exhausted,
  Unavailable: CniCode.TryAgainLater,
  Internal: CniCode.Internal,
};

/** Invalid input about these fields is the runtime's environment (code 4), not the network config. */
const ENVIRONMENT_FIELDS = new Set(['netns', 'containerId', 'ifname']);

export function cniCodeFor(e: TerraceError): number {
  if (e.code === 'Invalid' && e.field !== undefined && ENVIRONMENT_FIELDS.has(e.field)) return CniCode.InvalidEnvironment;
  return CODES[e.code];
}

/** The first line, cut to a length a runtime's event line can hold; the rest goes to details. */
function oneLine(msg: string, details: string): { msg: string; details: string } {
  const [first = '', ...rest] = msg.split('\n');
  const more = rest.join(' ').trim();
  return { msg: first.length > 500 ? `${first.slice(0, 500)}…` : first, details: [more, details].filter((s) => s !== '').join('; ') };
}

/** Any failure as the CNI error the plugin will print. */
export function toCniError(e: unknown): CniError {
  let code: number;
  let msg: string;
  let details = '';
  if (e instanceof CniError) {
    ({ code, message: msg, details } = e);
  } else if (isTerraceError(e)) {
    code = cniCodeFor(e);
    msg = e.message;
    details = e.resource ?? '';
  } else {
    code = CniCode.Internal;
    msg = `terrace-agent: ${e instanceof Error ? e.message : String(e)}`;
  }
  const line = oneLine(msg, details);
  return new CniError(code, line.msg, line.details);
}
