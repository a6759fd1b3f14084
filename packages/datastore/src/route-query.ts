/**
 * Route queries: asking every live agent, through etcd, what it sees for a
 * few prefixes right now. Agents do not publish their routing tables (too
 * big at a thousand nodes), so a reader writes a question and each agent
 * writes its answer next to it:
 *
 *   queries/<id>                 RouteQuery, bound to the asker's query lease
 *   query-answers/<id>/<node>    RouteAnswer, bound to the lease the query names
 *
 * Two leases, both granted and revoked by the asker, so that everything
 * vanishes together (also when the asker dies: the TTL ends it). The answers
 * have a lease of their own because etcd lets a user attach a key to a lease
 * only when it may write every key already on it: agents may write answers,
 * not queries.
 */
import { randomBytes } from 'node:crypto';
import { type Cidr, TerraceError, cidrContainsCidr, formatCidr, formatIP, hostCidr, tryParseCidr, tryParseIP } from '@terrace/api';
import type { Etcd3 } from 'etcd3';
import { endpointsOf, mapEtcdError } from './client.js';
import type { Keys } from './keys.js';

export interface RouteQuery {
  id: string;
  /** Addresses or CIDRs, normalised (parseQueryPrefix). */
  prefixes: string[];
  askedBy: string;
  askedAt: string;
  /** The lease (decimal id) answers are bound to. */
  lease: string;
}

export interface KernelRouteReport {
  dst: string;
  /** `unicast`, `blackhole`, `unreachable`, `prohibit`. */
  type: string;
  via: string[];
  dev?: string;
  /** The route's protocol: `terrace`, `bird`, `kernel`, `static`, `boot`, or its number. */
  protocol: string;
}

export interface BgpPathReport {
  prefix: string;
  nextHop: string;
  /** The session it came over, where the backend reports it; empty when not known. */
  peer: string;
  best: boolean;
  /** Empty when the backend does not report it. */
  asPath: number[];
}

export interface RouteQueryResult {
  /** As asked (an address or a CIDR). */
  prefix: string;
  /** This node announces a prefix covering it (an affine block or a borrowed /32). */
  originated: boolean;
  /** The kernel's route(s) for it on this node: the longest match in the main table. */
  kernel: KernelRouteReport[];
  /** Paths this node learned over BGP for prefixes covering it. */
  bgp: BgpPathReport[];
}

export interface RouteAnswer {
  node: string;
  backend: string;
  answeredAt: string;
  results: RouteQueryResult[];
  /** Set instead of results when the agent could not look (e.g. the kernel read failed). */
  error?: string;
  /**
   * `starting`: the agent is alive but has not yet brought up BGP and its
   * routes, so results are empty and say nothing about routing. Absent when
   * the agent looked.
   */
  state?: 'starting';
}

/** The TTL of a query's leases: the longest a crashed asker's query lingers. */
export const QUERY_LEASE_TTL_S = 30;

/**
 * The most prefixes one query may ask about: an agent answers every query
 * from a kernel dump, so the work per query must stay bounded.
 */
export const MAX_QUERY_PREFIXES = 64;

function checkPrefixCount(n: number, what: string): void {
  if (n > MAX_QUERY_PREFIXES) throw new TerraceError('Invalid', `${what}: ${n} prefixes, at most ${MAX_QUERY_PREFIXES} per query`);
}

/** An address or a CIDR, in canonical text; a TerraceError naming it otherwise. */
export function parseQueryPrefix(s: string): string {
  const ip = tryParseIP(s);
  if (ip) return formatIP(ip);
  const c = tryParseCidr(s, false);
  if (c) return formatCidr(c);
  throw new TerraceError('Invalid', `route query: "${s}" is neither an IP address nor a CIDR`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

function parseJson(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TerraceError('Invalid', `${what}: not JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) throw new TerraceError('Invalid', `${what}: not an object`);
  return v;
}

/** A stored query, checked; a TerraceError saying what is wrong otherwise. */
export function decodeRouteQuery(text: string): RouteQuery {
  const v = parseJson(text, 'route query');
  const { id, prefixes, askedBy, askedAt, lease } = v;
  if (!isString(id) || id === '' || id.includes('/')) throw new TerraceError('Invalid', 'route query: id missing or not a key segment');
  if (!isStrings(prefixes)) throw new TerraceError('Invalid', `route query ${id}: prefixes must be a list of strings`);
  checkPrefixCount(prefixes.length, `route query ${id}`);
  if (!isString(askedBy) || !isString(askedAt)) throw new TerraceError('Invalid', `route query ${id}: askedBy and askedAt must be strings`);
  // Lease 0 is etcd's "no lease": answers bound to it would never vanish.
  if (!isString(lease) || !/^[1-9][0-9]*$/.test(lease)) throw new TerraceError('Invalid', `route query ${id}: lease must be a non-zero decimal lease id`);
  return { id, prefixes: prefixes.map(parseQueryPrefix), askedBy, askedAt, lease };
}

/** Device and protocol names as the kernel and we print them; anything else is not an agent's answer. */
const NAME = /^[\w.@-]{1,32}$/;

const isIP = (v: unknown): v is string => isString(v) && tryParseIP(v) !== undefined;

/** `v` is a CIDR that covers `asked` (an address or a CIDR): a route or path that concerns the asked prefix. */
function covers(v: unknown, asked: Cidr): v is string {
  const c = isString(v) ? tryParseCidr(v, false) : undefined;
  return c !== undefined && cidrContainsCidr(c, asked);
}

function kernelReport(v: unknown, asked: Cidr): KernelRouteReport {
  if (!isObject(v) || !isString(v.type) || !NAME.test(v.type) || !Array.isArray(v.via) || !isString(v.protocol) || !NAME.test(v.protocol)) {
    throw new Error('a kernel route needs dst, type, via[], protocol and an optional dev');
  }
  if (!covers(v.dst, asked)) throw new Error(`a kernel route's dst must be a CIDR covering ${formatCidr(asked)}`);
  if (!v.via.every(isIP)) throw new Error('a kernel route\'s via must list IP addresses');
  if (v.dev !== undefined && !(isString(v.dev) && NAME.test(v.dev))) throw new Error('a kernel route\'s dev must be a device name');
  return { dst: v.dst, type: v.type, via: v.via, protocol: v.protocol, ...(v.dev !== undefined ? { dev: v.dev } : {}) };
}

function bgpReport(v: unknown, asked: Cidr): BgpPathReport {
  if (
    !isObject(v) ||
    !isString(v.peer) ||
    typeof v.best !== 'boolean' ||
    !Array.isArray(v.asPath) ||
    !v.asPath.every((n) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff)
  ) {
    throw new Error('a BGP path needs prefix, nextHop, peer, best and asPath[]');
  }
  if (!covers(v.prefix, asked)) throw new Error(`a BGP path's prefix must be a CIDR covering ${formatCidr(asked)}`);
  if (!isIP(v.nextHop) || (v.peer !== '' && !isIP(v.peer))) throw new Error('a BGP path\'s nextHop and peer must be IP addresses');
  return { prefix: v.prefix, nextHop: v.nextHop, peer: v.peer, best: v.best, asPath: v.asPath as number[] };
}

function queryResult(v: unknown): RouteQueryResult {
  if (!isObject(v) || !isString(v.prefix) || typeof v.originated !== 'boolean' || !Array.isArray(v.kernel) || !Array.isArray(v.bgp)) {
    throw new Error('a result needs prefix, originated, kernel[] and bgp[]');
  }
  const ip = tryParseIP(v.prefix);
  const asked = ip ? hostCidr(ip) : tryParseCidr(v.prefix, false);
  if (!asked) throw new Error('a result\'s prefix must be an address or a CIDR');
  return { prefix: v.prefix, originated: v.originated, kernel: v.kernel.map((k) => kernelReport(k, asked)), bgp: v.bgp.map((b) => bgpReport(b, asked)) };
}

/** A stored answer, checked; a TerraceError naming the node and the fault otherwise. */
export function decodeRouteAnswer(node: string, text: string): RouteAnswer {
  const v = parseJson(text, `route answer of node ${node}`);
  try {
    if (v.node !== node) throw new Error(`it names node ${JSON.stringify(v.node)}`);
    if (!isString(v.backend) || !isString(v.answeredAt)) throw new Error('backend and answeredAt must be strings');
    if (v.error !== undefined && !isString(v.error)) throw new Error('error must be a string');
    if (!Array.isArray(v.results)) throw new Error('results must be a list');
    if (v.state !== undefined && v.state !== 'starting') throw new Error('state must be "starting" when set');
    return {
      node,
      backend: v.backend,
      answeredAt: v.answeredAt,
      results: v.results.map(queryResult),
      ...(v.error !== undefined ? { error: v.error } : {}),
      ...(v.state !== undefined ? { state: v.state } : {}),
    };
  } catch (e) {
    throw new TerraceError('Invalid', `route answer of node ${node}: ${(e as Error).message}`);
  }
}

export interface AskOptions {
  /** How long to wait for the expected nodes' answers, ms. */
  timeoutMs: number;
  /** Who asks, for an operator reading the query (e.g. `controller/host-1`, `terracectl`). */
  askedBy: string;
  /**
   * The nodes whose answers to wait for; default the nodes alive now
   * (`nodes/alive/`). The call returns as soon as all of them answered.
   */
  expect?: readonly string[];
}

export interface AskResult {
  answers: RouteAnswer[];
  /** Expected nodes that did not answer in time. */
  missing: string[];
  /** Nodes whose answer could not be read (garbled), with why. */
  errors: { node: string; error: string }[];
}

/**
 * Asks the agents about `prefixes` and collects their answers: every
 * expected node's, or what came within the timeout. Rejects with Invalid for
 * a prefix that is neither an address nor a CIDR (before writing anything)
 * and with Unavailable when etcd cannot be reached; a garbled answer is that
 * node's error, never a rejection.
 */
export async function askAgents(etcd: Etcd3, keys: Keys, prefixes: readonly string[], opts: AskOptions): Promise<AskResult> {
  checkPrefixCount(prefixes.length, 'route query');
  const normalised = prefixes.map(parseQueryPrefix);
  if (normalised.length === 0) throw new TerraceError('Invalid', 'route query: no prefix to ask about');
  const id = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  const wrap = (e: unknown): TerraceError => mapEtcdError(e, endpointsOf(etcd));
  const queryLease = etcd.lease(QUERY_LEASE_TTL_S, { autoKeepAlive: false });
  const answerLease = etcd.lease(QUERY_LEASE_TTL_S, { autoKeepAlive: false });
  const raw = new Map<string, string>();
  let watcher: Awaited<ReturnType<ReturnType<Etcd3['watch']>['create']>> | undefined;
  let wake: (() => void) | undefined;
  try {
    const expect = opts.expect ?? (await etcd.getAll().prefix(keys.alivePrefix()).keys()).map((k) => k.slice(keys.alivePrefix().length));
    const done = (): boolean => expect.every((n) => raw.has(n));
    const take = (key: string, value: string): void => {
      const at = keys.parseQueryAnswer(key);
      if (at?.id !== id) return;
      raw.set(at.node, value);
      if (done()) wake?.();
    };
    // The watch starts before the query exists, so no answer can slip past it.
    watcher = await etcd.watch().prefix(keys.queryAnswerPrefix(id)).create();
    watcher.on('put', (kv) => take(kv.key.toString(), kv.value.toString()));
    const query: RouteQuery = { id, prefixes: normalised, askedBy: opts.askedBy, askedAt: new Date().toISOString(), lease: await answerLease.grant() };
    await queryLease
      .put(keys.query(id))
      .value(JSON.stringify(query))
      .exec()
      .catch((e: unknown) => {
        // The one write that needs a grant beyond reading (queries/): say which, so a denial points at the missing grant.
        const err = wrap(e);
        throw new TerraceError(err.code, `writing ${keys.queryPrefix()}: ${err.message}`, { cause: err });
      });
    if (!done()) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, opts.timeoutMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    // A last read, in case the watch stream was reconnecting meanwhile.
    if (!done()) for (const [k, v] of Object.entries(await etcd.getAll().prefix(keys.queryAnswerPrefix(id)).strings())) take(k, v);
    const answers: RouteAnswer[] = [];
    const errors: { node: string; error: string }[] = [];
    for (const [node, text] of [...raw].sort(([a], [b]) => a.localeCompare(b))) {
      try {
        answers.push(decodeRouteAnswer(node, text));
      } catch (e) {
        errors.push({ node, error: (e as Error).message });
      }
    }
    return { answers, missing: expect.filter((n) => !raw.has(n)).sort(), errors };
  } catch (e) {
    throw wrap(e);
  } finally {
    await watcher?.cancel().catch(() => undefined);
    // Best effort: a lease we cannot revoke ends with its TTL.
    await Promise.all([queryLease.revoke().catch(() => queryLease.release()), answerLease.revoke().catch(() => answerLease.release())]);
  }
}

/** Writes an agent's answer to a query, bound to the query's answer lease. */
export async function putRouteAnswer(etcd: Etcd3, keys: Keys, query: RouteQuery, answer: RouteAnswer): Promise<void> {
  try {
    await etcd.put(keys.queryAnswer(query.id, answer.node)).value(JSON.stringify(answer)).lease(query.lease).exec();
  } catch (e) {
    throw mapEtcdError(e, endpointsOf(etcd));
  }
}
