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
  WatchCache,
  decodeRouteQuery,
  putRouteAnswer,
} from '@terrace/datastore';
import type { Logger } from '@terrace/log';
import type { Etcd3 } from 'etcd3';

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

/** A view with every prefix unpacked once, for answering a batch of queries from one look. */
export interface IndexedView {
  originated: Cidr[];
  main: { r: AnyRoute; dst: Cidr }[];
  learned: { p: PackedPrefix; dst: Cidr; hops: LearnedHops }[];
}

export function indexView(view: NodeView): IndexedView {
  return {
    originated: view.originated.map((p) => parseCidr(p, false)),
    main: view.kernel.filter((r) => r.route.table === MAIN_TABLE).map((r) => ({ r, dst: unpackPrefix(r.route.dst) })),
    learned: [...view.learned].map(([p, hops]) => ({ p, dst: unpackPrefix(p), hops })),
  };
}

/** The answer for each asked prefix (already normalised), from what the node sees. Pure. */
export function answerPrefixes(prefixes: readonly string[], view: NodeView | IndexedView): RouteQueryResult[] {
  const { originated, main, learned } = 'kernel' in view ? indexView(view) : view;
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
  /**
   * Reads what the node sees now; may throw (the answer then carries the
   * error). Without it the responder answers `starting` until ready() gives one.
   */
  look?: () => Promise<NodeView>;
  /** Watch cache retry tuning (tests). */
  retryMs?: number;
}

/**
 * Watches `queries/` and answers every query once. The watch is a
 * WatchCache: after a broken stream, an etcd restart or a compaction it lists
 * `queries/` again instead of trusting etcd3's resume, so no query is missed.
 *
 * One look at a time: queries that arrive while the node is being read wait
 * and share the next look, so a burst of queries costs one kernel dump, not
 * one each.
 *
 * Every query present is answered, however old its `askedAt`: that time is
 * the asker's wall clock, and ours may differ from it by minutes (a clock
 * stepped on either side). Judging age by it once made every agent skip the
 * queries of a controller whose clock had been set back, so no dead node
 * could be confirmed gone and freed. The query's lease decides instead: the
 * asker revokes it when done, and a crashed asker's expires within
 * QUERY_LEASE_TTL_S, on etcd's clock.
 */
export class QueryResponder {
  private cache: WatchCache<string> | undefined;
  private readonly answered = new Set<string>();
  private readonly pending = new Map<string, RouteQuery>();
  private running = false;
  private stopped = false;
  private look: (() => Promise<NodeView>) | undefined;

  constructor(private readonly opts: QueryResponderOptions) {
    this.look = opts.look;
  }

  /** Resolves once the existing queries are listed (and queued for an answer). */
  async start(): Promise<void> {
    const { etcd, keys, log } = this.opts;
    const cache = new WatchCache<string>(etcd, { prefix: keys.queryPrefix(), decode: (kv) => kv.value.toString(), ...(this.opts.retryMs !== undefined ? { retryMs: this.opts.retryMs } : {}) });
    this.cache = cache;
    cache.on('change', (c) => {
      if (c.type === 'deleted') this.answered.delete(c.key);
      else if (c.value !== undefined) this.take(c.key, c.value);
    });
    cache.on('resync', (why) => {
      if (cache.synced) log.warn('route queries: listing queries again', { reason: why });
    });
    cache.on('unavailable', (e) => log.debug('route queries: cannot list queries', { error: e.message }));
    await cache.waitSynced();
  }

  /** From now on queries are answered from `look` instead of `starting`. */
  ready(look: () => Promise<NodeView>): void {
    this.look = look;
  }

  private take(key: string, text: string): void {
    if (this.stopped || this.answered.has(key)) return;
    this.answered.add(key);
    const { log } = this.opts;
    let query: RouteQuery;
    try {
      query = decodeRouteQuery(text);
    } catch (e) {
      log.warn('ignoring a route query', { key, error: (e as Error).message });
      return;
    }
    this.pending.set(query.id, query);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.pending.size > 0 && !this.stopped) {
      const batch = [...this.pending.values()];
      this.pending.clear();
      await this.answerBatch(batch);
    }
    this.running = false;
  }

  private async answerBatch(batch: RouteQuery[]): Promise<void> {
    const { etcd, keys, node, backend, log } = this.opts;
    const base = { node, backend, answeredAt: new Date().toISOString() };
    let answerOf: (q: RouteQuery) => RouteAnswer;
    const look = this.look;
    if (!look) {
      answerOf = () => ({ ...base, results: [], state: 'starting' });
    } else {
      try {
        const view = indexView(await look());
        answerOf = (q) => ({ ...base, results: answerPrefixes(q.prefixes, view) });
      } catch (e) {
        const error = (e as Error).message;
        answerOf = () => ({ ...base, results: [], error });
      }
    }
    await Promise.all(
      batch.map(async (q) => {
        try {
          await putRouteAnswer(etcd, keys, q, answerOf(q));
        } catch (e) {
          // The query's lease may be gone already (the asker stopped waiting).
          log.debug('cannot answer a route query', { id: q.id, error: (e as Error).message });
        }
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.cache?.close();
  }
}
