/**
 * The agent's Adj-RIB-In and decision process: every peer's paths, as the
 * BMP station reads them from our gobgpd (pre-policy route monitoring), folded
 * into one next-hop set per prefix, the set gobgpd's own best-path and
 * multipath selection (3.10) would pick, and the events that change the kernel.
 *
 * Shaped for a full table arriving at once (100,000 prefixes in ~120 UPDATEs):
 * - the attributes of one UPDATE are read once into a PathRec that every
 *   prefix of that UPDATE shares; a stored path *is* that record;
 * - a prefix holds its only path directly (the usual case: no array, no
 *   sorting) and an array only once a second peer announces it;
 * - next-hop sets are frozen arrays shared by every prefix with the same set;
 * - a per-peer index (by family) keeps peer down, End-of-RIB and stale sweeps
 *   proportional to that peer's paths.
 *
 * Staleness is a generation number: markAllStale() starts a new generation and
 * a path is stale while its record belongs to an older one.
 */
import { prefixFamily, unpackPrefix, type PackedAddr, type PackedPrefix } from '@terrace/api';
import { importAllows, type PolicyRule } from '../policy.js';
import type { LearnedEvent } from '../speaker.js';
import type { BgpUpdate, BmpPeer, PathAttrs } from './types.js';

export interface RibOptions {
  /** Our AS: a peer with the same AS is iBGP; a path whose AS_PATH holds it is a loop. */
  localAsn: number;
  /** Our BGP identifier (uint32): as ORIGINATOR_ID or in CLUSTER_LIST it marks a reflection loop (RFC 4456). */
  routerId: number;
  /** Every path equal to the best (gobgpd's Path.Compare) gives a next hop. Default true. */
  multipath?: boolean;
}

/** What the decision process knows about a peer; its paths point here. */
interface PeerState {
  readonly key: string;
  ibgp: boolean;
  bgpId: number;
  addrFamily: number;
  addrValue: bigint;
  /** The prefixes this peer has a path for, by family of the prefix. */
  readonly v4: PeerIndex;
  readonly v6: PeerIndex;
}

/**
 * A peer's prefix keys, appended to and never removed from one by one (a Set
 * costs as much again as the route table while a full table loads): a key
 * may be there twice, or for a path already gone, so every reader checks the
 * route. Compacted once most keys are dead.
 */
interface PeerIndex {
  keys: PackedPrefix[];
  /** Paths this peer holds in the family. */
  live: number;
}

/** One UPDATE's path attributes, shared by all its prefixes. */
interface PathRec {
  readonly peer: PeerState;
  /** Arrival order: gobgpd prefers the older of two eBGP paths. */
  readonly seq: number;
  /** Feed generation it was announced in (stale when older than the RIB's; peerStale() ages it). */
  gen: number;
  /** NEXT_HOP, also the key of the one-hop set. */
  readonly hopKey: PackedAddr;
  /** `[hopKey]`, the shared frozen set for a prefix whose selection is this path alone. */
  readonly hops: readonly PackedAddr[];
  readonly localPref: number;
  readonly asPathLen: number;
  readonly origin: number;
  readonly med: number;
  readonly firstAs: number;
}

interface Entry {
  /** The prefix as read from the wire (the map key, and the value the events carry). */
  readonly key: PackedPrefix;
  /** The only path, or undefined when `list` holds two or more. */
  one: PathRec | undefined;
  /** Two or more paths, in gobgpd's order (best first). */
  list: PathRec[] | undefined;
  /** Selected next hops; empty when none is selected (a prefix of our own). */
  nextHops: readonly PackedAddr[];
  /** The selected next hops, sorted and concatenated, '' when none. */
  hopsKey: string;
  /**
   * Set by correct(): gobgpd's best next hop ('' for none), which the
   * selection follows instead of ours until the prefix changes again.
   */
  pinned: PackedAddr | '' | undefined;
}

const NONE: readonly PackedAddr[] = Object.freeze([]);
/** Distinct next-hop sets are few; beyond this the cache is restarted (sharing is an optimisation only). */
const HOP_CACHE_LIMIT = 8192;

/**
 * True when `a` goes before `b` in gobgpd's ordering (destination.go sort(),
 * without the steps that cannot apply here: LLGR stale, next-hop tracking,
 * local origin). When no step decides, gobgpd keeps `a` first.
 */
function before(a: PathRec, b: PathRec): boolean {
  if (a.localPref !== b.localPref) return a.localPref > b.localPref;
  if (a.asPathLen !== b.asPathLen) return a.asPathLen < b.asPathLen;
  if (a.origin !== b.origin) return a.origin < b.origin;
  // MED only between paths from the same neighbouring AS, or both internal (empty AS path).
  const medComparable = (a.asPathLen === 0 && b.asPathLen === 0) || (a.firstAs !== 0 && a.firstAs === b.firstAs);
  if (medComparable && a.med !== b.med) return a.med < b.med;
  const pa = a.peer;
  const pb = b.peer;
  if (pa.ibgp !== pb.ibgp) return !pa.ibgp;
  if (!pa.ibgp) {
    // Two eBGP paths: the older one (RFC 5004), never the router id.
    if (a.seq !== b.seq) return a.seq < b.seq;
  } else if (pa.bgpId !== pb.bgpId) {
    return pa.bgpId < pb.bgpId;
  }
  if (pa.addrFamily !== pb.addrFamily) return pa.addrFamily < pb.addrFamily;
  if (pa.addrValue !== pb.addrValue) return pa.addrValue < pb.addrValue;
  return true;
}

/** gobgpd's Path.Compare(a, b) === 0: the paths are equal for multipath. */
function equalForMultipath(a: PathRec, b: PathRec): boolean {
  return (
    a.peer.ibgp === b.peer.ibgp &&
    a.localPref === b.localPref &&
    a.asPathLen === b.asPathLen &&
    a.origin === b.origin &&
    a.med === b.med
  );
}

/**
 * Re-sorts a list the way gobgpd does after each change (sort.SliceStable,
 * which is an insertion sort up to 20 paths). Done literally because MED
 * comparability is not transitive, so the result can depend on the order
 * the paths were in. Beyond 20 paths gobgpd merges blocks; the result is the
 * same whenever the ordering is consistent.
 */
function resort(list: PathRec[]): void {
  for (let i = 1; i < list.length; i++) {
    for (let j = i; j > 0; j--) {
      const cur = list[j] as PathRec;
      const prev = list[j - 1] as PathRec;
      if (!before(cur, prev)) break;
      list[j] = prev;
      list[j - 1] = cur;
    }
  }
}

export class AdjRibIn {
  private readonly localAsn: number;
  private readonly routerId: number;
  private readonly multipath: boolean;
  private readonly routes = new Map<PackedPrefix, Entry>();
  private readonly peers = new Map<string, PeerState>();
  private readonly hopSets = new Map<string, readonly PackedAddr[]>();
  private local: ReadonlySet<PackedPrefix> = new Set();
  private seq = 0;
  private gen = 0;
  private paths = 0;
  private stale = 0;
  private selected = 0;
  /** While set, removals record the prefixes they touch here instead of reselecting each time. */
  private deferred: Map<PackedPrefix, Entry> | undefined;
  /** Bumped by every call that can change paths or selections (see changeCount). */
  private changes = 0;
  /** Import rules by peer key (policy.ts), as gobgpd's import policy has them; a peer not here imports everything. */
  private importRules: ReadonlyMap<string, readonly PolicyRule[]> = new Map();

  constructor(opts: RibOptions) {
    this.localAsn = opts.localAsn;
    this.routerId = opts.routerId;
    this.multipath = opts.multipath ?? true;
  }

  /**
   * Applies one UPDATE from `peer`. Withdrawn prefixes drop the peer's path;
   * announced ones replace it. A path gobgpd would reject (AS loop, RFC 4456
   * loop) or one without a usable next hop withdraws the peer's earlier path.
   * An End-of-RIB marker acts as endOfRib(peer.key, family).
   */
  update(peer: BmpPeer, u: BgpUpdate): LearnedEvent[] {
    this.changes += 1;
    const events: LearnedEvent[] = [];
    const st = this.peerState(peer);
    const rec = u.announced.length > 0 ? this.accept(st, u.attrs) : undefined;
    if (u.withdrawn.length > 0) {
      // A prefix both withdrawn and announced is just replaced: no withdraw/set flap.
      const again = u.announced.length > 0 ? new Set(u.announced) : undefined;
      for (const n of u.withdrawn) if (again === undefined || !again.has(n)) this.withdraw(st, n, events);
    }
    const rules = this.importRules.get(st.key);
    if (rec !== undefined && rules !== undefined) {
      // A path the session's import policy rejects is as good as withdrawn.
      for (const n of u.announced) {
        if (importAllows(rules, unpackPrefix(n))) this.announce(st, rec, n, events);
        else this.withdraw(st, n, events);
      }
    } else if (rec !== undefined) {
      for (const n of u.announced) this.announce(st, rec, n, events);
    } else {
      for (const n of u.announced) this.withdraw(st, n, events);
    }
    if (u.endOfRib !== undefined) this.dropStale(st, u.endOfRib === 4 ? st.v4 : st.v6, events);
    return events;
  }

  /**
   * The sessions' import rules, applied to what arrives from now on; paths
   * already held are judged again when their peer sends them again (the
   * speaker has gobgpd resend its table after a change).
   */
  setImportPolicy(byPeer: ReadonlyMap<string, readonly PolicyRule[]>): void {
    this.importRules = byPeer;
  }

  /** The peer's session went down: all its paths go. */
  peerDown(peerKey: string): LearnedEvent[] {
    this.changes += 1;
    const events: LearnedEvent[] = [];
    const st = this.peers.get(peerKey);
    if (st === undefined) return events;
    for (const index of [st.v4, st.v6]) {
      for (const key of index.keys) {
        const e = this.routes.get(key);
        if (e !== undefined) this.removePath(st, key, e, events);
      }
      index.keys = [];
      index.live = 0;
    }
    this.peers.delete(peerKey);
    return events;
  }

  /**
   * Prefixes we originate ourselves: never learned routes. A learned path for
   * one of them yields no event; once a prefix stops being ours, its learned
   * paths are selected again. Replaces the previous set.
   */
  setLocal(prefixKeys: Iterable<PackedPrefix>): LearnedEvent[] {
    this.changes += 1;
    const events: LearnedEvent[] = [];
    const prev = this.local;
    const next = new Set(prefixKeys);
    this.local = next;
    for (const key of prev) {
      if (next.has(key)) continue;
      const e = this.routes.get(key);
      if (e !== undefined) this.reselect(key, e, events);
    }
    for (const key of next) {
      if (prev.has(key)) continue;
      const e = this.routes.get(key);
      if (e !== undefined) this.commit(e, '', NONE, events);
    }
    return events;
  }

  /** The feed broke: every path held is stale (still selected) until refreshed or dropped. */
  markAllStale(): void {
    this.changes += 1;
    this.gen += 1;
    this.stale = this.paths;
  }

  /**
   * One peer's session went down with graceful restart: its paths are stale
   * (still selected, as gobgpd keeps forwarding on them) until refreshed or
   * dropped by endOfRib() for that peer, or sweepStale().
   */
  peerStale(peerKey: string): void {
    this.changes += 1;
    const st = this.peers.get(peerKey);
    if (st === undefined) return;
    // A record is one UPDATE's attributes from this peer, shared by its prefixes: age each once, count each path.
    // The index may name a key twice (appended again after a withdrawal): count keys once.
    const fresh = new Set<PathRec>();
    const counted = new Set<PackedPrefix>();
    for (const index of [st.v4, st.v6]) {
      for (const key of index.keys) {
        const e = this.routes.get(key);
        const p = e === undefined ? undefined : pathOf(e, st);
        if (p === undefined || p.gen < this.gen) continue;
        fresh.add(p);
        counted.add(key);
      }
    }
    const count = counted.size;
    // Recounting would see an aged record as stale already, so count first, then age.
    for (const p of fresh) p.gen = this.gen - 1;
    this.stale += count;
  }

  /** End-of-RIB from `peerKey` for `family`: drops that peer's still-stale paths of that family. */
  endOfRib(peerKey: string, family: 4 | 6): LearnedEvent[] {
    this.changes += 1;
    const events: LearnedEvent[] = [];
    const st = this.peers.get(peerKey);
    if (st !== undefined) this.dropStale(st, family === 4 ? st.v4 : st.v6, events);
    return events;
  }

  /** Drops every still-stale path (the grace period ran out). */
  sweepStale(): LearnedEvent[] {
    this.changes += 1;
    const events: LearnedEvent[] = [];
    if (this.stale === 0) return events;
    // Several peers' paths of one prefix can go: select once at the end, so a
    // prefix gets one event (not a shrinking ECMP set, then a withdrawal).
    const touched = new Map<PackedPrefix, Entry>();
    this.deferred = touched;
    try {
      for (const st of this.peers.values()) {
        this.dropStale(st, st.v4, events);
        this.dropStale(st, st.v6, events);
      }
    } finally {
      this.deferred = undefined;
    }
    for (const [key, e] of touched) {
      if (this.routes.get(key) === e) this.reselect(key, e, events);
      else this.commit(e, '', NONE, events);
    }
    return events;
  }

  get staleCount(): number {
    return this.stale;
  }

  /**
   * Grows with every change fed in (UPDATEs, peer down, End-of-RIB, stale
   * marks, corrections): equal values mean nothing changed in between.
   */
  get changeCount(): number {
    return this.changes;
  }

  /**
   * The next hop of the best path we select for a prefix (the first of
   * gobgpd's order; with multipath, other equal paths add theirs), or of the
   * correction in force; undefined when nothing is selected (no path, a prefix
   * of our own, or corrected to none). What the RIB check compares with
   * gobgpd's best path.
   */
  bestHop(key: PackedPrefix): PackedAddr | undefined {
    const e = this.routes.get(key);
    if (e === undefined) return undefined;
    if (e.pinned !== undefined) return e.pinned === '' ? undefined : e.pinned;
    if (e.hopsKey === '') return undefined;
    return (e.one ?? (e.list as PathRec[])[0] as PathRec).hopKey;
  }

  /** Whether the prefix is one of our own (setLocal). */
  isLocal(key: PackedPrefix): boolean {
    return this.local.has(key);
  }

  /** Whether we hold any path for the prefix. */
  has(key: PackedPrefix): boolean {
    return this.routes.has(key);
  }

  /** Prefixes we hold paths for, by family, as gobgpd counts destinations (with our own, less those corrected to none). */
  destinationCounts(): { v4: number; v6: number } {
    let v4 = 0;
    let v6 = 0;
    for (const e of this.routes.values()) {
      if (e.pinned === '' && !this.local.has(e.key)) continue;
      if (prefixFamily(e.key) === 4) v4 += 1;
      else v6 += 1;
    }
    for (const key of this.local) {
      if (this.routes.has(key)) continue;
      if (prefixFamily(key) === 6) v6 += 1;
      else v4 += 1;
    }
    return { v4, v6 };
  }

  /** Up to `n` prefixes with a selection, picked at random (reservoir sampling). */
  sample(n: number): PackedPrefix[] {
    const out: PackedPrefix[] = [];
    let seen = 0;
    for (const e of this.routes.values()) {
      if (this.bestHop(e.key) === undefined) continue;
      seen += 1;
      if (out.length < n) out.push(e.key);
      else {
        const j = Math.floor(Math.random() * seen);
        if (j < n) out[j] = e.key;
      }
    }
    return out;
  }

  /**
   * Follows gobgpd's best path for a prefix we hold paths for, where our
   * selection differs from it: `hop` (one next hop) or undefined for no
   * route. Holds until the prefix changes again, which selects anew.
   * Returns the event, if the selection changed; nothing for a prefix we hold
   * no path for or one of our own.
   */
  correct(key: PackedPrefix, hop: PackedAddr | undefined): LearnedEvent[] {
    const events: LearnedEvent[] = [];
    const e = this.routes.get(key);
    if (e === undefined || this.local.has(key)) return events;
    this.changes += 1;
    if (hop === undefined) {
      e.pinned = '';
      this.commit(e, '', NONE, events);
    } else {
      e.pinned = hop;
      this.commit(e, hop, this.hopSet(hop, hop), events);
    }
    return events;
  }

  /** Prefixes with a selected route. */
  get size(): number {
    return this.selected;
  }

  /** Prefix key → current selection (a live view; copy it to keep it). */
  snapshot(): ReadonlyMap<PackedPrefix, { nextHops: readonly PackedAddr[] }> {
    if (this.selected === this.routes.size) return this.routes;
    const out = new Map<PackedPrefix, Entry>();
    for (const [key, e] of this.routes) if (e.hopsKey !== '') out.set(key, e);
    return out;
  }

  /** 'set' for everything selected, for a new subscriber. */
  currentEvents(): LearnedEvent[] {
    const events: LearnedEvent[] = [];
    for (const e of this.routes.values()) {
      if (e.hopsKey !== '') events.push({ kind: 'set', prefix: e.key, nextHops: e.nextHops });
    }
    return events;
  }

  /** Paths held for a peer. */
  pathCount(peerKey: string): number {
    const st = this.peers.get(peerKey);
    return st === undefined ? 0 : st.v4.live + st.v6.live;
  }

  private peerState(peer: BmpPeer): PeerState {
    const ibgp = peer.asn === this.localAsn && peer.asn !== 0;
    let st = this.peers.get(peer.key);
    if (st === undefined) {
      st = {
        key: peer.key,
        ibgp,
        bgpId: peer.bgpId,
        addrFamily: peer.address.family,
        addrValue: peer.address.value,
        v4: { keys: [], live: 0 },
        v6: { keys: [], live: 0 },
      };
      this.peers.set(peer.key, st);
    } else {
      // Normally unchanged; a new session without a peer-down in between is taken as is.
      st.ibgp = ibgp;
      st.bgpId = peer.bgpId;
    }
    return st;
  }

  /** The record for an UPDATE's attributes, or undefined when gobgpd would not use the path. */
  private accept(st: PeerState, a: PathAttrs | undefined): PathRec | undefined {
    if (a === undefined) return undefined;
    const hop = a.nextHop;
    if (hop === undefined || isZero(hop)) return undefined;
    if (a.asns.includes(this.localAsn)) return undefined;
    if (a.originatorId === this.routerId || a.clusterList.includes(this.routerId)) return undefined;
    const hopKey = hop;
    this.seq += 1;
    return {
      peer: st,
      seq: this.seq,
      gen: this.gen,
      hopKey,
      hops: this.hopSet(hopKey, hop),
      localPref: a.localPref ?? 100,
      asPathLen: a.asPathLen,
      origin: a.origin,
      med: a.med ?? 0,
      firstAs: a.firstAs,
    };
  }

  private hopSet(key: string, ...hops: PackedAddr[]): readonly PackedAddr[] {
    let set = this.hopSets.get(key);
    if (set === undefined) {
      if (this.hopSets.size >= HOP_CACHE_LIMIT) this.hopSets.clear();
      set = Object.freeze(hops);
      this.hopSets.set(key, set);
    }
    return set;
  }

  private announce(st: PeerState, rec: PathRec, key: PackedPrefix, events: LearnedEvent[]): void {
    const e = this.routes.get(key);
    if (e === undefined) {
      // Fast path: a prefix nobody else announces.
      const fresh: Entry = { key, one: rec, list: undefined, nextHops: NONE, hopsKey: '', pinned: undefined };
      this.routes.set(key, fresh);
      const index = prefixFamily(key) === 4 ? st.v4 : st.v6;
      index.keys.push(key);
      index.live += 1;
      this.paths += 1;
      if (this.local.size === 0 || !this.local.has(key)) this.commit(fresh, rec.hopKey, rec.hops, events);
      return;
    }
    const one = e.one;
    if (one !== undefined) {
      if (one.peer === st) {
        this.replaced(one);
        // Same attributes again keep the path's age (see below).
        e.one = sameForSelection(one, rec) ? { ...one, gen: rec.gen } : rec;
      } else {
        // gobgpd appends the new path to its sorted list, then sorts.
        e.one = undefined;
        e.list = before(rec, one) ? [rec, one] : [one, rec];
        this.adopt(st, key);
      }
    } else {
      const list = e.list as PathRec[];
      const i = indexOfPeer(list, st);
      let path = rec;
      if (i >= 0) {
        const old = list[i] as PathRec;
        this.replaced(old);
        list.splice(i, 1);
        // gobgpd keeps a path's age when the peer sends the same attributes
        // again (a route refresh, a reconnect's dump): so must the oldest-eBGP
        // tie-break here, or a refresh could move the best path.
        if (sameForSelection(old, rec)) path = { ...old, gen: rec.gen };
      } else {
        this.adopt(st, key);
      }
      list.push(path);
      resort(list);
    }
    this.reselect(key, e, events);
  }

  private withdraw(st: PeerState, key: PackedPrefix, events: LearnedEvent[]): void {
    const e = this.routes.get(key);
    if (e === undefined) return;
    if (!this.removePath(st, key, e, events)) return;
    const index = prefixFamily(key) === 4 ? st.v4 : st.v6;
    index.live -= 1;
    if (index.keys.length > 2 * index.live + 1024) this.compact(st, index);
  }

  /** Rewrites a peer index to the keys the peer still has a path for, once each. */
  private compact(st: PeerState, index: PeerIndex): void {
    const seen = new Set<PackedPrefix>();
    const keys: PackedPrefix[] = [];
    for (const key of index.keys) {
      if (seen.has(key)) continue;
      const e = this.routes.get(key);
      if (e === undefined || pathOf(e, st) === undefined) continue;
      seen.add(key);
      keys.push(key);
    }
    index.keys = keys;
    index.live = keys.length;
  }

  /** Drops the peer's stale paths of one family. */
  private dropStale(st: PeerState, index: PeerIndex, events: LearnedEvent[]): void {
    if (this.stale === 0) return;
    let dropped = 0;
    for (const key of index.keys) {
      const e = this.routes.get(key);
      if (e === undefined) continue;
      const p = pathOf(e, st);
      if (p === undefined || p.gen >= this.gen) continue;
      this.removePath(st, key, e, events);
      dropped += 1;
    }
    if (dropped === 0) return;
    index.live -= dropped;
    if (index.keys.length > 2 * index.live + 1024) this.compact(st, index);
  }

  /** Removes the peer's path from the entry (not from the peer index); false when it had none. */
  private removePath(st: PeerState, key: PackedPrefix, e: Entry, events: LearnedEvent[]): boolean {
    const one = e.one;
    if (one !== undefined) {
      if (one.peer !== st) return false;
      this.forget(one);
      this.routes.delete(key);
      if (this.deferred !== undefined) this.deferred.set(key, e);
      else this.commit(e, '', NONE, events);
      return true;
    }
    const list = e.list as PathRec[];
    const i = indexOfPeer(list, st);
    if (i < 0) return false;
    this.forget(list[i] as PathRec);
    list.splice(i, 1);
    if (list.length === 1) {
      e.one = list[0];
      e.list = undefined;
    } else {
      resort(list);
    }
    if (this.deferred !== undefined) this.deferred.set(key, e);
    else this.reselect(key, e, events);
    return true;
  }

  /** Accounts a path that is being added for a peer without one for this prefix. */
  private adopt(st: PeerState, key: PackedPrefix): void {
    const index = prefixFamily(key) === 4 ? st.v4 : st.v6;
    index.keys.push(key);
    index.live += 1;
    this.paths += 1;
  }

  /** Accounts a path leaving the RIB. */
  private forget(p: PathRec): void {
    this.paths -= 1;
    this.replaced(p);
  }

  /** Accounts a path replaced by a fresh one from the same peer. */
  private replaced(p: PathRec): void {
    if (p.gen < this.gen) this.stale -= 1;
  }

  private reselect(key: PackedPrefix, e: Entry, events: LearnedEvent[]): void {
    e.pinned = undefined;
    if (this.local.size !== 0 && this.local.has(key)) {
      this.commit(e, '', NONE, events);
      return;
    }
    const one = e.one;
    if (one !== undefined) {
      this.commit(e, one.hopKey, one.hops, events);
      return;
    }
    const list = e.list as PathRec[];
    const best = list[0] as PathRec;
    let members: PathRec[] | undefined;
    if (this.multipath) {
      for (let i = 1; i < list.length; i++) {
        const p = list[i] as PathRec;
        if (p.hopKey === best.hopKey || !equalForMultipath(best, p)) continue;
        if (members === undefined) members = [best];
        if (!members.some((m) => m.hopKey === p.hopKey)) members.push(p);
      }
    }
    if (members === undefined) {
      this.commit(e, best.hopKey, best.hops, events);
      return;
    }
    members.sort((a, b) => (a.hopKey < b.hopKey ? -1 : 1));
    // Packed addresses of one family have one length: concatenated, they stay apart.
    const hopsKey = members.map((m) => m.hopKey).join('');
    this.commit(e, hopsKey, this.hopSet(hopsKey, ...members.map((m) => m.hopKey)), events);
  }

  /** Stores a selection and reports it when it differs from the previous one. */
  private commit(e: Entry, hopsKey: string, hops: readonly PackedAddr[], events: LearnedEvent[]): void {
    if (hopsKey === e.hopsKey) return;
    if (hopsKey === '') {
      e.hopsKey = '';
      e.nextHops = NONE;
      this.selected -= 1;
      events.push({ kind: 'withdraw', prefix: e.key });
      return;
    }
    if (e.hopsKey === '') this.selected += 1;
    e.hopsKey = hopsKey;
    e.nextHops = hops;
    events.push({ kind: 'set', prefix: e.key, nextHops: hops });
  }
}

/** Same next hop and the attributes the decision reads. */
function sameForSelection(a: PathRec, b: PathRec): boolean {
  return (
    a.hopKey === b.hopKey &&
    a.localPref === b.localPref &&
    a.asPathLen === b.asPathLen &&
    a.origin === b.origin &&
    a.med === b.med &&
    a.firstAs === b.firstAs
  );
}

/** The unspecified address (0.0.0.0, ::): no usable next hop. */
function isZero(a: PackedAddr): boolean {
  for (let i = 1; i < a.length; i++) if (a.charCodeAt(i) !== 0) return false;
  return true;
}

/** The peer's path for a prefix, if it has one. */
function pathOf(e: Entry, st: PeerState): PathRec | undefined {
  const one = e.one;
  if (one !== undefined) return one.peer === st ? one : undefined;
  const list = e.list as PathRec[];
  for (let i = 0; i < list.length; i++) if ((list[i] as PathRec).peer === st) return list[i];
  return undefined;
}

function indexOfPeer(list: readonly PathRec[], st: PeerState): number {
  for (let i = 0; i < list.length; i++) if ((list[i] as PathRec).peer === st) return i;
  return -1;
}
