/**
 * Why a session with a TCP MD5 password does not come up. A segment whose
 * MD5 signature is wrong, missing or unexpected is dropped by the kernel
 * before any BGP daemon sees it, so neither gobgpd nor BIRD can tell: the
 * session just stays in Active or Connect. The kernel counts those drops per
 * network namespace (/proc/net/netstat, TcpExt): the agent runs in the node's
 * namespace, samples them with every status publication and, while they
 * rise, names the likely cause on the sessions that are not Established.
 * The counters cannot say which peer sent the segment: every session that
 * fits gets the hint.
 */
import { readFileSync } from 'node:fs';
import { monotonicMs } from '@terrace/api';

export interface Md5Counters {
  /** Signature present but wrong: the two sides' passwords differ. */
  failure: number;
  /** A signature was expected (we have a key for that address) but none came. */
  notFound: number;
  /** A signature came for an address we have no key for. */
  unexpected: number;
}

const FIELDS: Record<keyof Md5Counters, string> = { failure: 'TCPMD5Failure', notFound: 'TCPMD5NotFound', unexpected: 'TCPMD5Unexpected' };

/** The TcpExt MD5 counters from /proc/net/netstat's text (a header line of names, then one of values). */
export function parseMd5Counters(text: string): Md5Counters {
  const lines = text.split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = (lines[0] ?? '').split(/\s+/).slice(1);
  const values = (lines[1] ?? '').split(/\s+/).slice(1);
  const get = (name: string): number => {
    const i = names.indexOf(name);
    const v = i < 0 ? NaN : Number(values[i]);
    return Number.isFinite(v) ? v : 0;
  };
  return { failure: get(FIELDS.failure), notFound: get(FIELDS.notFound), unexpected: get(FIELDS.unexpected) };
}

/**
 * The hint for one session, or undefined. `rise` is how much each counter
 * grew over the recent window.
 */
export function md5Hint(session: { passwordSet: boolean; established: boolean }, rise: Md5Counters): string | undefined {
  if (session.established) return undefined;
  const seen = (k: keyof Md5Counters): string => `${FIELDS[k]} +${rise[k]}`;
  if (session.passwordSet && rise.failure > 0) {
    return `TCP MD5 signatures fail here (${seen('failure')}): the password differs from the peer's`;
  }
  if (session.passwordSet && rise.notFound > 0) {
    return `segments arrive without the TCP MD5 signature (${seen('notFound')}): the peer has no password set`;
  }
  if (!session.passwordSet && rise.unexpected > 0) {
    return `segments arrive with a TCP MD5 signature (${seen('unexpected')}): the peer has a password, this session none`;
  }
  return undefined;
}

/** How far back counter increases still count: longer than a peer's connect retry. */
export const MD5_WINDOW_MS = 60_000;

/** Samples of this namespace's counters; `rise()` is the growth over the window. */
export class Md5Watch {
  private samples: { at: number; c: Md5Counters }[] = [];

  constructor(private readonly read: () => string = () => readFileSync('/proc/net/netstat', 'utf8')) {}

  /** Takes a sample and returns how much each counter rose within the window (zeros when unreadable). */
  rise(now = monotonicMs()): Md5Counters {
    let c: Md5Counters;
    try {
      c = parseMd5Counters(this.read());
    } catch {
      return { failure: 0, notFound: 0, unexpected: 0 };
    }
    this.samples.push({ at: now, c });
    // Keep the newest sample older than the window as the baseline.
    while (this.samples.length > 2 && (this.samples[1] as { at: number }).at <= now - MD5_WINDOW_MS) this.samples.shift();
    const base = (this.samples[0] as { c: Md5Counters }).c;
    return { failure: c.failure - base.failure, notFound: c.notFound - base.notFound, unexpected: c.unexpected - base.unexpected };
  }
}
