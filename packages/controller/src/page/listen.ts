/**
 * The status page's listen address, parsed once at the flag.
 */
import { invalidField } from '@terrace/api';

/** `HOST:PORT` or `[V6]:PORT`; port 0 picks a free one (tests). */
export function parseListen(text: string, flag = '--status-listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw invalidField(undefined, `flag ${flag}`, `"${text}" must be HOST:PORT, e.g. 127.0.0.1:9095`);
  return { host: (m[1] ?? m[2]) as string, port };
}
