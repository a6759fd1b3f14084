/**
 * Start-up priming of route sync. V8 compiles a function only once it has
 * run often enough, so without priming the first large batch (a full BGP
 * table after a restart) runs route sync's per-route code in the
 * interpreter, and V8 compiles it on a second core while that table is
 * being received. The agent's primeLearnedPath feeds this RouteSync a
 * synthetic table through the very code a real one takes.
 */
import { loopbackRelay } from './relay.js';
import { RouteSync, type RouteSyncLogger } from './sync.js';

const silent: RouteSyncLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A RouteSync that touches no kernel: it starts from an empty one and its
 * relay accepts every change in-process (loopbackRelay). Close it when done.
 */
export function primingRouteSync(): RouteSync {
  return new RouteSync({ relay: loopbackRelay, readKernel: async () => [], resyncIntervalMs: 0, logger: silent });
}
