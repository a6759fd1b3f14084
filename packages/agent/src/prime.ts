/**
 * Primes the learned-route path at start-up: a synthetic feed (an eBGP
 * router's /32s, two nodes' /26 blocks as ECMP, IPv6 /64s, a withdrawal and
 * a peer going down) goes through the BMP reader and a scratch Adj-RIB-In,
 * the agent's learned-route bookkeeping (a scratch LearnedRoutes), and a
 * scratch route sync whose relay is in-process and touches no kernel
 * (primingRouteSync). The first real table, after a node or agent restart,
 * then runs in compiled code rather than in V8's interpreter, and V8 is not
 * compiling it on the other core while that table arrives. Nothing reaches
 * gobgpd, the kernel or any state the agent keeps. Costs 0.5–0.6 CPU s on
 * each start (docs/BENCHMARKS.md): more CPU in all, for a faster first table.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { primeBmpPath, syntheticFeed } from '@terrace/bgp';
import { primingRouteSync, type RouteSync } from '@terrace/dataplane';
import { LearnedRoutes } from './learned.js';
import type { RouteContext } from './routes.js';

/** The router's /32s per round, and rounds: V8 compiles the per-route functions during the second and third, the per-batch ones by the fourth. */
const PRIME_PREFIXES = 3000;
const PRIME_ROUNDS = 4;
/** Events per batch, about what one read of gobgpd's feed carries (an UPDATE of /32s holds ~800). */
const BATCH = 800;
/**
 * V8 compiles on other threads: functions the last round made hot are still
 * being compiled when it ends. Waiting this long lets that finish during
 * start-up rather than while the first table arrives.
 */
const SETTLE_MS = 50;
/** The tail's passes, the routes in each, and the pause after each (see tail()). */
const TAIL_PASSES = 3;
const TAIL_PREFIXES = 800;
const TAIL_PAUSE_MS = 20;
/** The feed's routes are all someone else's. */
const NOTHING_OF_OURS: RouteContext = { originated: new Set(), selfAddresses: new Set() };
/** Priming takes well under a second; past this something holds it up, and start-up goes on without it. */
const DEADLINE_MS = 10_000;

/**
 * Runs the priming; returns the number of routes the scratch route sync held
 * after the last round. Rejects when a round fails or when it has not
 * finished within `deadlineMs` (route sync waits out failures by retrying,
 * and priming must never hold up start-up).
 */
export async function primeLearnedPath(deadlineMs = DEADLINE_MS): Promise<number> {
  const sync = primingRouteSync();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`priming did not finish within ${deadlineMs} ms`)), deadlineMs);
  });
  const work = rounds(sync);
  // Settled or not, it is no one's business after a timeout.
  work.catch(() => undefined);
  let held: number;
  try {
    held = await Promise.race([work, late]);
  } catch (e) {
    // Not waited for: whatever held priming up may hold this up too.
    void sync.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  await sync.close();
  await sleep(SETTLE_MS);
  return held;
}

/** The synthetic feed, PRIME_ROUNDS times, into `sync`; then the routes go again, and the tail runs. */
async function rounds(sync: RouteSync): Promise<number> {
  const feed = syntheticFeed(PRIME_PREFIXES);
  let held = 0;
  for (let round = 0; round < PRIME_ROUNDS; round++) {
    // Later rounds find their routes in route sync already, as a resent table would.
    await table(sync, feed);
    held = sync.size;
  }
  sync.setDesired([]);
  await sync.flush();
  await tail(sync);
  return held;
}

/**
 * V8 marks a function for optimisation while it runs hot but compiles it on
 * its next call. Functions marked near the end of the last round would
 * therefore be compiled when the first real table calls them, on the core
 * gobgpd needs. Short passes over a small table, each followed by a pause,
 * start those compiles and let them finish here.
 */
async function tail(sync: RouteSync): Promise<void> {
  const feed = syntheticFeed(TAIL_PREFIXES);
  for (let pass = 0; pass < TAIL_PASSES; pass++) {
    await table(sync, feed);
    sync.setDesired([]);
    await sync.flush();
    await sleep(TAIL_PAUSE_MS);
  }
}

/** One table from `feed` through a fresh agent's bookkeeping into `sync`, in batches as gobgpd's feed arrives. */
async function table(sync: RouteSync, feed: Buffer): Promise<void> {
  const learned = new LearnedRoutes(sync, (e) => {
    throw e;
  });
  learned.setContext(NOTHING_OF_OURS, new Set());
  const events = primeBmpPath(feed);
  for (let at = 0; at < events.length; at += BATCH) {
    learned.apply(events.slice(at, at + BATCH));
    // Let route sync's runner take batches as it would while a table arrives.
    if ((at / BATCH) % 2 === 1) await sync.flush();
  }
  await sync.flush();
}
