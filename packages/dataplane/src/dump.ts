/**
 * Parsing `ip -N -4|-6 route show` text into canonical route forms.
 *
 * Text, not `ip -j`: for 100,000 routes the JSON dump is twice the bytes, and
 * JSON.parse plus walking the objects costs more than reading lines. `-N`
 * prints route types and tables as numbers, so no name files are consulted.
 * Each family is dumped on its own because `default` alone does not say which
 * family it is.
 *
 * The parser walks the dump in place (indexOf and startsWith on the whole
 * text) and slices out only the values it keeps: splitting every line into
 * words cost more than everything else together.
 */
import { formatIP, parseCidr, parseIP, type IPFamily } from '@terrace/api';
import { cidrText, defaultMetric, keyOf, pooledHop, pooledSingle, sortHops, type HopText, type RouteCanon } from './canon.js';
import { MAIN_TABLE } from './constants.js';
import type { RouteKind } from './route.js';

const TYPES: Record<string, RouteKind> = {
  blackhole: 'blackhole',
  '6': 'blackhole',
  unreachable: 'unreachable',
  '7': 'unreachable',
  prohibit: 'prohibit',
  '8': 'prohibit',
  unicast: 'unicast',
  '1': 'unicast',
};
const TABLES: Record<string, number> = { main: MAIN_TABLE, local: 255, default: 253 };

// Words `ip route show` follows with a value we do not keep.
const SKIP_VALUE = new Set([
  'proto', 'scope', 'pref', 'expires', 'mtu', 'advmss', 'rtt', 'rttvar', 'reordering', 'window', 'cwnd',
  'ssthresh', 'realms', 'realm', 'hoplimit', 'initcwnd', 'initrwnd', 'features', 'quickack', 'congctl',
  'fastopen_no_cookie', 'rto_min', 'nhid', 'error', 'tos', 'dsfield', 'from', 'uid', 'cache', 'mark',
]);

/** End of the word starting at p: the next space, or the end of the line. */
function wordEnd(text: string, p: number, end: number): number {
  const i = text.indexOf(' ', p);
  return i < 0 || i > end ? end : i;
}

function isWord(text: string, p: number, q: number, word: string): boolean {
  return q - p === word.length && text.startsWith(word, p);
}

function address(family: IPFamily, s: string): string {
  // glibc prints an IPv4-mapped IPv6 address with a dotted tail; formatIP does not.
  return family === 6 && s.includes('.') ? formatIP(parseIP(s)) : s;
}

/** The destination as canonical text: a host route as its bare address, as the kernel prints it. */
function destination(family: IPFamily, s: string): string {
  if (s === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  return family === 6 && s.includes('.') ? cidrText(parseCidr(s.includes('/') ? s : `${s}/128`)) : s;
}

/** What a route's own line says besides its next hop. */
interface LineWords {
  table: number;
  metric: number;
  src: string | undefined;
}

/** Reads the words of text[p..end) into `out`; returns the next hop they name, if any. */
function readWords(text: string, p: number, end: number, family: IPFamily, out: LineWords): HopText | undefined {
  let via: string | undefined;
  let dev: string | undefined;
  let weight = 1;
  let onlink = false;
  while (p < end) {
    const q = wordEnd(text, p, end);
    if (q === p) {
      p++;
      continue;
    }
    let v = q + 1;
    let w = v < end ? wordEnd(text, v, end) : v;
    let next = w + 1;
    if (isWord(text, p, q, 'via')) {
      if (isWord(text, v, w, 'inet') || isWord(text, v, w, 'inet6')) {
        v = w + 1;
        w = wordEnd(text, v, end);
        next = w + 1;
      }
      const gw = text.slice(v, w);
      via = address(gw.includes(':') ? 6 : 4, gw);
    } else if (isWord(text, p, q, 'dev')) {
      dev = text.slice(v, w);
    } else if (isWord(text, p, q, 'weight')) {
      weight = Number(text.slice(v, w));
    } else if (isWord(text, p, q, 'onlink')) {
      onlink = true;
      next = q + 1;
    } else if (isWord(text, p, q, 'metric')) {
      out.metric = Number(text.slice(v, w));
    } else if (isWord(text, p, q, 'table')) {
      const t = text.slice(v, w);
      out.table = TABLES[t] ?? Number(t);
    } else if (isWord(text, p, q, 'src')) {
      out.src = address(family, text.slice(v, w));
    } else if (!SKIP_VALUE.has(text.slice(p, q))) {
      next = q + 1; // a flag (linkdown, dead, offload, ...)
    }
    p = next;
  }
  return via === undefined && dev === undefined ? undefined : pooledHop(via, dev, weight, onlink);
}

/** Parses `ip -N -4|-6 route show` output of one family into canonical forms. */
export function parseRouteDump(text: string, family: IPFamily): RouteCanon[] {
  const out: RouteCanon[] = [];
  const words: LineWords = { table: MAIN_TABLE, metric: 0, src: undefined };
  const scratch: LineWords = { table: MAIN_TABLE, metric: 0, src: undefined };
  const noHops: readonly HopText[] = [];
  // The route being read; its next hops may follow on the next lines.
  let kind: RouteKind = 'unicast';
  let dst: string | undefined;
  let table = MAIN_TABLE;
  let metric = 0;
  let src: string | undefined;
  let hops: readonly HopText[] = noHops;
  let multipath: HopText[] | undefined;

  const flush = (): void => {
    if (dst === undefined) return;
    const h = multipath === undefined ? hops : sortHops(multipath);
    out.push({ key: keyOf(dst, family, table, metric), kind, family, dst, table, metric, src, hops: h });
  };

  const n = text.length;
  let p = 0;
  while (p < n) {
    let e = text.indexOf('\n', p);
    if (e < 0) e = n;
    if (e > p) {
      if (text.charCodeAt(p) === 9 /* tab: a next hop of the route above */) {
        if (multipath !== undefined) {
          let s = p + 1;
          while (s < e && text.charCodeAt(s) === 32) s++;
          if (text.startsWith('nexthop ', s)) {
            const hop = readWords(text, s + 8, e, family, scratch);
            if (hop !== undefined) multipath.push(hop);
          }
        }
      } else {
        flush();
        let q = wordEnd(text, p, e);
        let first = text.slice(p, q);
        kind = 'unicast';
        let foreign = false;
        // A destination has a '.', ':' or '/', or is `default`; anything else first is a route type.
        if (first !== 'default' && !first.includes('.') && !first.includes(':') && !first.includes('/')) {
          const k = TYPES[first];
          if (k === undefined) foreign = true;
          else kind = k;
          q = wordEnd(text, q + 1, e);
          first = text.slice(p + first.length + 1, q);
        }
        dst = destination(family, first);
        words.table = MAIN_TABLE;
        words.metric = defaultMetric(family);
        words.src = undefined;
        const hop = readWords(text, q + 1, e, family, words);
        table = words.table;
        metric = words.metric;
        src = words.src;
        // A type we do not model (throw, local, ...) keeps no next hops: it can be
        // removed, and never matches a desired route. Reject routes have none (an
        // IPv6 one shows `dev lo`).
        const takesHops = kind === 'unicast' && !foreign;
        hops = takesHops && hop !== undefined ? pooledSingle(hop) : noHops;
        multipath = takesHops && hop === undefined ? [] : undefined;
      }
    }
    p = e + 1;
  }
  flush();
  return out;
}
