/**
 * The garbage-collection planner: pure functions from what the controller
 * saw (which nodes are alive, what each holds in IPAM) and what it
 * remembers (when it first saw each node gone, how many passes each block
 * has been empty) to what it should release. No I/O and no clock of its
 * own: the caller passes `now`, so grace timing is tested with plain numbers.
 *
 * Grace periods are counted from when *this leader* first saw a node's
 * liveness key gone. A newly elected leader has no memory, so every dead
 * node starts a full grace period again. That can only delay a release,
 * never hasten one: a node that died just before a failover is released a
 * grace period later than it could have been, and no node that might still
 * come back is released early because an old clock was trusted.
 */

/** What one node holds in IPAM, as read in one snapshot. */
export interface NodeHoldings {
  /** Addresses allocated to pods on this node (in any block). */
  addresses: number;
  /** CIDRs of blocks affine to the node (one per affinity key). */
  blocks: string[];
  /** Of those, the confirmed ones whose block holds no allocation. */
  emptyBlocks: string[];
}

export interface World {
  /** Nodes whose liveness key exists. */
  alive: ReadonlySet<string>;
  /** Nodes with a Node resource. */
  registered: ReadonlySet<string>;
  /** Nodes that hold something; a node holding nothing may be absent. */
  holdings: ReadonlyMap<string, NodeHoldings>;
}

/** What the planner remembers between passes (belongs to one leadership). */
export interface GcState {
  /** node → when this leader first saw it without a liveness key (ms on the monotonic clock: a wall-clock jump must not shorten a grace period). */
  readonly goneSince: ReadonlyMap<string, number>;
  /** block CIDR → the live node it is affine to and on how many consecutive passes it was empty. */
  readonly emptyPasses: ReadonlyMap<string, { node: string; passes: number }>;
}

/** `held`: grace is over but a live agent still learns its routes (hold.ts); set by the controller, not the planner. */
export type NodeState = 'alive' | 'grace' | 'released' | 'held';

export interface NodeView {
  node: string;
  state: NodeState;
  goneSince?: number;
  /** ms left before release (state grace). */
  graceRemainingMs?: number;
  addresses: number;
  blocks: number;
  /** Why its release is held (state held). */
  heldReason?: string;
}

/**
 * `periodic`: the regular pass, which also advances the empty-block count.
 * `deadline`: an extra pass run when a grace period ends; it releases dead
 * nodes only, so that extra passes never shorten the two-pass rule.
 */
export type PassKind = 'periodic' | 'deadline';

export interface GcPlan {
  state: GcState;
  /** Dead nodes whose grace period is over and that still hold addresses or blocks. */
  releaseNodes: string[];
  /** Live nodes whose every empty block was empty on this and the previous periodic pass. */
  releaseEmptyBlocks: { node: string; blocks: string[] }[];
  /** Live nodes with empty blocks not yet seen empty twice (their release waits). */
  waitingEmptyBlocks: { node: string; blocks: string[] }[];
  /** Every node the controller knows of, sorted by name. */
  nodes: NodeView[];
  /** ms from now until the earliest running grace period ends, if any. */
  nextDeadlineMs: number | undefined;
}

export function emptyGcState(): GcState {
  return { goneSince: new Map(), emptyPasses: new Map() };
}

/** The liveness watch saw `node`'s key deleted: start its clock unless it is already running. */
export function nodeWentAway(state: GcState, node: string, now: number): GcState {
  if (state.goneSince.has(node)) return state;
  const goneSince = new Map(state.goneSince);
  goneSince.set(node, now);
  return { ...state, goneSince };
}

/** The liveness watch saw `node`'s key (re)appear: it is alive, its clock stops. */
export function nodeCameBack(state: GcState, node: string): GcState {
  if (!state.goneSince.has(node)) return state;
  const goneSince = new Map(state.goneSince);
  goneSince.delete(node);
  return { ...state, goneSince };
}

function holds(h: NodeHoldings | undefined): boolean {
  return h !== undefined && (h.addresses > 0 || h.blocks.length > 0);
}

export function planPass(prev: GcState, world: World, now: number, graceMs: number, kind: PassKind = 'periodic'): GcPlan {
  const known = new Set<string>([...world.alive, ...world.registered, ...world.holdings.keys(), ...prev.goneSince.keys()]);

  // Liveness: the snapshot is the authority at pass time.
  const goneSince = new Map<string, number>();
  for (const node of known) {
    if (world.alive.has(node)) continue;
    // Forget a node that left no trace (no resource, nothing held): nothing to wait for.
    if (!world.registered.has(node) && !holds(world.holdings.get(node))) continue;
    goneSince.set(node, prev.goneSince.get(node) ?? now);
  }

  const releaseNodes: string[] = [];
  const nodes: NodeView[] = [];
  let nextDeadlineMs: number | undefined;
  for (const node of [...known].sort()) {
    const h = world.holdings.get(node);
    const base = { node, addresses: h?.addresses ?? 0, blocks: h?.blocks.length ?? 0 };
    const since = goneSince.get(node);
    if (world.alive.has(node)) {
      nodes.push({ ...base, state: 'alive' });
      continue;
    }
    if (since === undefined) continue;
    const left = since + graceMs - now;
    if (left > 0) {
      nodes.push({ ...base, state: 'grace', goneSince: since, graceRemainingMs: left });
      nextDeadlineMs = nextDeadlineMs === undefined ? left : Math.min(nextDeadlineMs, left);
      continue;
    }
    nodes.push({ ...base, state: 'released', goneSince: since });
    if (holds(h)) releaseNodes.push(node);
  }

  // Empty blocks of live nodes: two consecutive periodic passes.
  let emptyPasses = new Map(prev.emptyPasses);
  const releaseEmptyBlocks: GcPlan['releaseEmptyBlocks'] = [];
  const waitingEmptyBlocks: GcPlan['waitingEmptyBlocks'] = [];
  if (kind === 'periodic') {
    emptyPasses = new Map();
    for (const node of [...world.alive].sort()) {
      const empties = [...(world.holdings.get(node)?.emptyBlocks ?? [])].sort();
      if (empties.length === 0) continue;
      const ready: string[] = [];
      const waiting: string[] = [];
      for (const cidr of empties) {
        const before = prev.emptyPasses.get(cidr);
        const passes = before && before.node === node ? before.passes + 1 : 1;
        emptyPasses.set(cidr, { node, passes });
        (passes >= 2 ? ready : waiting).push(cidr);
      }
      // The release gives back every empty block the node has at that
      // moment, so it waits until none of them is a first sighting.
      if (waiting.length === 0) releaseEmptyBlocks.push({ node, blocks: ready });
      else waitingEmptyBlocks.push({ node, blocks: waiting });
    }
  }

  return { state: { goneSince, emptyPasses }, releaseNodes, releaseEmptyBlocks, waitingEmptyBlocks, nodes, nextDeadlineMs };
}
