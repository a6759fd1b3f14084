/**
 * The agent's side of route queries (datastore route-query.ts): it watches
 * `queries/` and answers each query with what this node sees for the asked
 * prefixes right now: whether it announces them, the kernel's longest match
 * (a netlink dump, every protocol) and the paths its speaker learned. The
 * answer goes under `query-answers/<id>/<node>`, bound to the lease the
 * query names, so it vanishes with the query.
 */
import { type Cidr, cidrContainsCidr, formatAddr, formatPrefix, hostCidr, parseCidr, tryParseIP, unpackPrefix, type PackedPrefix } from '@terrace/api';
import type { LearnedHops } from '@terrace/bgp';
import type { AnyRoute } from '@terrace/dataplane';
import {
  type BgpPathReport,
  type KernelRouteReport,
  type Keys,
  type RouteAnswer,
  type RouteQuery,
  type RouteQueryResult,
  decodeRouteQuery,
  putRouteAnswer,
} from '@terrace/datastore';
import type { Logger } from '@terrace/log';
import type { Etcd3, Watcher } from 'etcd3';

/** What the node sees, as the answer is built from it. */
export interface NodeView {
  /** The prefixes this node announces. */
  originated: readonly string[];
  /** The speaker's learned best paths. */
  learned: ReadonlyMap<PackedPrefix, LearnedHops>;
  /** The kernel's routes, every protocol. */
  kernel: readonly AnyRoute[];
}

const MAIN_TABLE = 254;

/** Names of the route protocols an operator meets on a Terrace node (rtnetlink's and ours). */
const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 2: 'kernel', 3: 'boot', 4: 'static', 12: 'bird', 186: 'bgp', 201: 'terrace' };

function protocolName(n: number): string {
  return PROTOCOL_NAMES[n] ?? String(n);
}

function asCidr(prefix: string): Cidr {
  const ip = tryParseIP(prefix);
  return ip ? hostCidr(ip) : parseCidr(prefix, false);
}

function kernelReport({ route, protocol }: AnyRoute): KernelRouteReport {
  const via = route.hops.flatMap((h) => (h.via !== undefined ? [formatAddr(h.via)] : []));
  const devs = [...new Set(route.hops.flatMap((h) => (h.dev !== undefined ? [h.dev] : [])))];
  return { dst: formatPrefix(route.dst), type: route.kind, via, ...(devs.length === 1 ? { dev: devs[0] as string } : {}), protocol: protocolName(protocol) };
}

/** The answer for each asked prefix (already normalised), from what the node sees. Pure. */
export function answerPrefixes(prefixes: readonly string[], view: NodeView): RouteQueryResult[] {
  const originated = view.originated.map((p) => parseCidr(p, false));
  const main = view.kernel.filter((r) => r.route.table === MAIN_TABLE).map((r) => ({ r, dst: unpackPrefix(r.route.dst) }));
  const learned = [...view.learned].map(([p, hops]) => ({ p, dst: unpackPrefix(p), hops }));
  return prefixes.map((prefix) => {
    const asked = asCidr(prefix);
    const covering = main.filter(({ dst }) => cidrContainsCidr(dst, asked));
    const longest = Math.max(-1, ...covering.map(({ dst }) => dst.prefix));
    const kernel = covering
      .filter(({ dst }) => dst.prefix === longest)
      .sort((a, b) => a.r.route.metric - b.r.route.metric)
      .map(({ r }) => kernelReport(r));
    const bgp: BgpPathReport[] = learned
      .filter(({ dst }) => cidrContainsCidr(dst, asked))
      .flatMap(({ p, hops }) => hops.nextHops.map((h) => ({ prefix: formatPrefix(p), nextHop: formatAddr(h), peer: '', best: true, asPath: [] })));
    return { prefix, originated: originated.some((c) => cidrContainsCidr(c, asked)), kernel, bgp };
  });
}

export interface QueryResponderOptions {
  etcd: Etcd3;
  keys: Keys;
  node: string;
  backend: string;
  log: Logger;
  /** Reads what the node sees now; may throw (the answer then carries the error). */
  look: () => Promise<NodeView>;
}

/** Watches `queries/` and answers every query once. */
export class QueryResponder {
  private watcher: Watcher | undefined;
  private readonly answered = new Set<string>();
  private stopped = false;

  constructor(private readonly opts: QueryResponderOptions) {}

  async start(): Promise<void> {
    const { etcd, keys } = this.opts;
    this.watcher = await etcd.watch().prefix(keys.queryPrefix()).create();
    this.watcher.on('put', (kv) => void this.answer(kv.key.toString(), kv.value.toString()));
    this.watcher.on('delete', (kv) => this.answered.delete(kv.key.toString()));
    // Queries asked before we watched (an agent that just started) are answered too.
    const existing = await etcd.getAll().prefix(keys.queryPrefix()).strings();
    for (const [k, v] of Object.entries(existing)) void this.answer(k, v);
  }

  private async answer(key: string, text: string): Promise<void> {
    if (this.stopped || this.answered.has(key)) return;
    this.answered.add(key);
    const { etcd, keys, node, backend, log } = this.opts;
    let query: RouteQuery;
    try {
      query = decodeRouteQuery(text);
    } catch (e) {
      log.warn('ignoring a route query', { key, error: (e as Error).message });
      return;
    }
    const answer: RouteAnswer = { node, backend, answeredAt: new Date().toISOString(), results: [] };
    try {
      answer.results = answerPrefixes(query.prefixes, await this.opts.look());
    } catch (e) {
      answer.error = (e as Error).message;
    }
    try {
      await putRouteAnswer(etcd, keys, query, answer);
    } catch (e) {
      // The query's lease may be gone already (the asker stopped waiting).
      log.debug('cannot answer a route query', { id: query.id, error: (e as Error).message });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.watcher?.cancel().catch(() => undefined);
  }
}
