/**
 * Request ids: the name one CNI call goes by in every log line it causes
 * (the plugin's errors, the agent's lines for the call, the IPAM lines) and
 * in the error the runtime gets back, so an operator holding a runtime's
 * error finds that call's lines with one grep. The plugin makes the id from
 * the command, the container id and its own PID, and sends it in a header;
 * the agent takes it when it is well formed and makes one of the same shape
 * otherwise (an older plugin, a hand-made call).
 */

/** The header the plugin sends the id in (lower case, as node's http module reports it). */
export const REQUEST_ID_HEADER = 'x-terrace-request';

const TOKEN = /^[A-Za-z0-9._-]+$/;
const ID = /^[A-Za-z0-9._-]{1,80}$/;

/** The id a caller sent, when it is one (plain characters, at most 80); undefined otherwise. */
export function sentRequestId(sent: string | readonly string[] | undefined): string | undefined {
  return typeof sent === 'string' && ID.test(sent) ? sent : undefined;
}

/**
 * `COMMAND-CONTAINER-TAG`: the command, the container id's first 12
 * characters, and a tag that tells calls of the same container apart (the
 * plugin's PID, or `a` and a counter when the agent makes it). A part that is
 * missing or not plain is `none`. bin/terrace-cni builds the same shape.
 */
export function makeRequestId(command: string | undefined, containerId: string | undefined, tag: string): string {
  const part = (s: string | undefined, max: number): string => (s !== undefined && TOKEN.test(s) ? s.slice(0, max) : 'none');
  return `${part(command, 8)}-${part(containerId, 12)}-${part(tag, 16)}`;
}

/** An error's `details` with the request named (after what was there). */
export function detailsWithRequest(details: string | undefined, req: string): string {
  return details ? `${details}; request ${req}` : `request ${req}`;
}
