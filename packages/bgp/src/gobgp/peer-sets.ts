/**
 * What gobgpd cannot be told per peer, told through neighbor sets that the
 * global export policy (export-policy.ts) matches on the peer a path is sent
 * to: which peers get our address as next hop (nextHopMode self), which get
 * the next hop unchanged (keep), and, on a route reflector, which peers may
 * be sent paths learned over iBGP (gobgpd's own reflection rules then decide
 * which: client paths to everyone, the others to clients only).
 *
 * gobgpd 3.10 has no per-neighbor next-hop-self and applies export policies
 * only globally; its UpdatePeer also keeps a peer's route reflector settings,
 * which is why the speaker re-adds a peer whose client flag changed.
 */
import { formatIP } from '@terrace/api';
import { DefinedType } from '../gen/gobgp_pb.js';
import type { PeerConfig } from '../speaker.js';
import type { GobgpClient } from './client.js';

export const REFLECT_TO_SET = 'terrace-reflect-to';
export const NEXT_HOP_SELF_SET = 'terrace-next-hop-self';
export const NEXT_HOP_KEEP_SET = 'terrace-next-hop-keep';

/**
 * gobgpd treats an empty neighbor set as matching every neighbor, so each of
 * ours always holds this entry, which no peer can have.
 */
export const NO_NEIGHBOR = '0.0.0.0/32';

export type PeerSets = Readonly<Record<typeof REFLECT_TO_SET | typeof NEXT_HOP_SELF_SET | typeof NEXT_HOP_KEEP_SET, readonly string[]>>;

function entry(p: PeerConfig): string {
  return `${formatIP(p.address)}/${p.address.family === 4 ? 32 : 128}`;
}

function setOf(peers: readonly PeerConfig[]): string[] {
  return [NO_NEIGHBOR, ...peers.map(entry).sort()];
}

/** The sets' desired contents for a peer set, from our AS. */
export function peerSets(peers: Iterable<PeerConfig>, localAsn: number): PeerSets {
  const all = [...peers];
  const reflector = all.some((p) => p.routeReflectorClient);
  return {
    [REFLECT_TO_SET]: setOf(reflector ? all.filter((p) => p.asn === localAsn) : []),
    [NEXT_HOP_SELF_SET]: setOf(all.filter((p) => p.nextHopMode === 'self')),
    [NEXT_HOP_KEEP_SET]: setOf(all.filter((p) => p.nextHopMode === 'keep')),
  };
}

/** `198.18.0.11/32` as we spell it, whatever spelling gobgpd lists. */
function normalise(e: string): string {
  const slash = e.indexOf('/');
  return slash < 0 ? `${e}/${e.includes(':') ? 128 : 32}` : e;
}

/**
 * Brings gobgpd's neighbor sets to `want`, adding before removing so that a
 * set is never empty. Resolves with the peer entries whose membership
 * changed (their sessions need a soft reset out to see the new rule).
 */
export async function ensurePeerSets(client: GobgpClient, want: PeerSets): Promise<Set<string>> {
  const listed = new Map<string, Set<string>>();
  for (const r of await client.list('listDefinedSet', { definedType: DefinedType.NEIGHBOR })) {
    const s = r.definedSet;
    if (s) listed.set(s.name, new Set(s.list.map(normalise)));
  }
  const changed = new Set<string>();
  for (const [name, entries] of Object.entries(want)) {
    const cur = listed.get(name) ?? new Set<string>();
    const add = entries.filter((e) => !cur.has(e));
    const del = [...cur].filter((e) => !entries.includes(e));
    if (add.length > 0) await client.unary('addDefinedSet', { definedSet: { definedType: DefinedType.NEIGHBOR, name, list: add } });
    if (del.length > 0) await client.unary('deleteDefinedSet', { definedSet: { definedType: DefinedType.NEIGHBOR, name, list: del }, all: false });
    for (const e of [...add, ...del]) if (e !== NO_NEIGHBOR) changed.add(e.slice(0, e.lastIndexOf('/')));
  }
  return changed;
}
