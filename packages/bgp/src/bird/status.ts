/**
 * Reading BIRD's answers: `show protocols all` into session status and
 * `show route export <kernel protocol>` into prefix → next hops (what BIRD
 * has written to the kernel, ECMP merged). Pure functions over reply lines,
 * tested with text captured from BIRD 2.0.12.
 */
import { formatCidr, parseIP, tryParseCidr, type Cidr, type IPAddr } from '@terrace/api';
import type { SessionState } from '../speaker.js';
import type { BirdReplyLine } from './control.js';

export interface BirdProtocolStatus {
  name: string;
  proto: string;
  /** BIRD's protocol state: up, start, down, ... */
  state: string;
  since: Date | undefined;
  /** The Info column (e.g. `Established`, `Active        Socket: Connection refused`). */
  info: string;
  bgpState: string | undefined;
  lastError: string | undefined;
  imported: number;
  filtered: number;
  exported: number;
  /** Route change stats: import updates received, export updates accepted (sent), summed over channels. */
  importUpdates: number;
  exportUpdates: number;
}

const BGP_STATES: Record<string, SessionState> = {
  idle: 'idle',
  connect: 'connect',
  active: 'active',
  opensent: 'opensent',
  openconfirm: 'openconfirm',
  established: 'established',
  close: 'idle',
  down: 'idle',
};

export function sessionState(bgpState: string | undefined): SessionState {
  return BGP_STATES[(bgpState ?? '').toLowerCase()] ?? 'unknown';
}

/** `2026-12-07 12:55:39` (timeformat protocol iso long), local time. */
function parseSince(s: string): Date | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, se);
}

/** Parses `show protocols all` (1002 header rows, 1006 details). */
export function parseProtocols(lines: readonly BirdReplyLine[]): BirdProtocolStatus[] {
  const out: BirdProtocolStatus[] = [];
  let cur: BirdProtocolStatus | undefined;
  for (const l of lines) {
    if (l.code === 1002) {
      // name proto table state since(2 words with iso long) info
      const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\S+)\s*(.*)$/.exec(l.text);
      if (!m) continue;
      cur = {
        name: m[1] as string,
        proto: m[2] as string,
        state: m[4] as string,
        since: parseSince(m[5] as string),
        info: (m[6] ?? '').trim().replace(/\s{2,}/g, ': '),
        bgpState: undefined,
        lastError: undefined,
        imported: 0,
        filtered: 0,
        exported: 0,
        importUpdates: 0,
        exportUpdates: 0,
      };
      out.push(cur);
      continue;
    }
    if (l.code !== 1006 || !cur) continue;
    const t = l.text.trim();
    let m: RegExpExecArray | null;
    if ((m = /^BGP state:\s+(\S+)/.exec(t))) cur.bgpState = m[1];
    else if ((m = /^Last error:\s+(.*)$/.exec(t))) cur.lastError = m[1];
    // Route change stats columns: received rejected filtered ignored accepted (`---` where none).
    else if ((m = /^Import updates:\s+(\d+)/.exec(t))) cur.importUpdates += Number(m[1]);
    else if ((m = /^Export updates:\s+(?:\S+\s+){4}(\d+)/.exec(t))) cur.exportUpdates += Number(m[1]);
    else if ((m = /^Routes:\s+(.*)$/.exec(t))) {
      for (const part of (m[1] as string).split(',')) {
        const pm = /(\d+)\s+(imported|filtered|exported)/.exec(part);
        if (pm) cur[pm[2] as 'imported' | 'filtered' | 'exported'] += Number(pm[1]);
      }
    }
  }
  return out;
}

/**
 * Parses `show route export <kernel protocol>` (1007 lines): a line starting
 * with a prefix opens a route, `via <addr> on <dev>` lines are its next hops
 * (several for a merged ECMP route). Device routes (no via) carry no next hop.
 */
export function parseRoutes(lines: readonly BirdReplyLine[]): Map<string, { prefix: Cidr; nextHops: IPAddr[] }> {
  const out = new Map<string, { prefix: Cidr; nextHops: IPAddr[] }>();
  let cur: { prefix: Cidr; nextHops: IPAddr[] } | undefined;
  for (const l of lines) {
    if (l.code !== 1007) continue;
    const first = /^(\S+)\s+\S+\s+\[/.exec(l.text);
    if (first) {
      const c = tryParseCidr(first[1] as string, false);
      cur = c ? { prefix: c, nextHops: [] } : undefined;
      if (c && cur) out.set(formatCidr(c), cur);
      continue;
    }
    const via = /^\s*via (\S+)/.exec(l.text);
    if (via && cur) {
      try {
        const ip = parseIP(via[1] as string);
        if (!cur.nextHops.some((h) => h.family === ip.family && h.value === ip.value)) cur.nextHops.push(ip);
      } catch {
        // not an address: ignore the line
      }
    }
  }
  return out;
}
