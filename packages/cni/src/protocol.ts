/**
 * The contract between the plugin (bin/terrace-cni, a POSIX shell script)
 * and the agent: one HTTP/1.1 request per CNI call on the agent's unix
 * socket, `POST /v1/cni?CNI_COMMAND=…&CNI_CONTAINERID=…` with the network
 * configuration, byte for byte as the runtime gave it, as the body. The
 * answer's body is exactly what the plugin prints: with status 200 the
 * result JSON (ADD) or nothing; with any other status the spec's error JSON.
 * The plugin adds nothing of its own but the answers for VERSION and for an
 * agent it cannot reach; everything else is decided here and in the agent.
 */

export const CNI_HTTP_PATH = '/v1/cni';

/** The variables the plugin forwards, as query parameters of the same names. */
export const FORWARDED_VARS = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'] as const;
export type ForwardedVar = (typeof FORWARDED_VARS)[number];
export type InvocationEnv = Partial<Record<ForwardedVar, string>>;

/** The largest network configuration the agent accepts: far above any real one (a conflist is a few hundred bytes). */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Under the state directory: one folder per DEL the plugin could not deliver. */
export const PENDING_DEL_DIR = 'pending-del';

/** The HTTP status of an answer carrying a CNI error. */
export const ERROR_STATUS = 400;

/** The forwarded variables from a request's query string; empty values count as unset. */
export function envFromQuery(query: URLSearchParams): InvocationEnv {
  const env: InvocationEnv = {};
  for (const k of FORWARDED_VARS) {
    const v = query.get(k);
    if (v !== null && v !== '') env[k] = v;
  }
  return env;
}
