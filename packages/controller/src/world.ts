/**
 * One consistent read of everything a pass decides on: liveness keys, Node
 * resources, IPAM blocks and affinities, all at one etcd revision, so that
 * "node X is dead" and "node X holds these addresses" describe the same
 * moment.
 */
import { formatCidr } from '@terrace/api';
import { type Keys, prefixOp, readAll } from '@terrace/datastore';
import { type BlockRecord, CONFIRMED, affinityNode, decodeBlock, ipOf } from '@terrace/ipam';
import type { Etcd3 } from 'etcd3';
import type { NodeHoldings, World } from './gc.js';

/** One allocation, as logged when it is freed. */
export interface HeldAddress {
  ip: string;
  block: string;
  handle: string;
  namespace?: string;
  pod?: string;
}

export interface Snapshot extends World {
  revision: string;
  /** node → its addresses, for the log lines written when they are freed. */
  addresses: ReadonlyMap<string, HeldAddress[]>;
  /** Block keys that could not be decoded (reported, never touched). */
  invalid: string[];
  /** Every block that could be decoded, as read (the IPAM metrics sample them). */
  blockRecords: BlockRecord[];
}

function holdingsOf(map: Map<string, NodeHoldings>, node: string): NodeHoldings {
  let h = map.get(node);
  if (!h) {
    h = { addresses: 0, blocks: [], emptyBlocks: [] };
    map.set(node, h);
  }
  return h;
}

export async function readWorld(etcd: Etcd3, keys: Keys): Promise<Snapshot> {
  const { revision, results } = await readAll(etcd, [
    prefixOp(keys.alivePrefix()),
    prefixOp(keys.resourcePrefix('Node')),
    prefixOp(keys.blockPrefix()),
    prefixOp(keys.affinityPrefix()),
  ]);
  const [aliveKvs = [], nodeKvs = [], blockKvs = [], affinityKvs = []] = results;

  const alive = new Set<string>();
  const alivePrefix = keys.alivePrefix();
  for (const kv of aliveKvs) {
    const name = kv.key.toString().slice(alivePrefix.length);
    if (name && !name.includes('/')) alive.add(name);
  }
  const registered = new Set<string>();
  for (const kv of nodeKvs) {
    const parsed = keys.parseResource(kv.key.toString());
    if (parsed?.kind === 'Node') registered.add(parsed.name);
  }

  const holdings = new Map<string, NodeHoldings>();
  const addresses = new Map<string, HeldAddress[]>();
  const invalid: string[] = [];
  const blockRecords: BlockRecord[] = [];
  /** block CIDR → its affine node and whether it holds anything. */
  const blocks = new Map<string, { node: string | undefined; empty: boolean }>();
  for (const kv of blockKvs) {
    const key = kv.key.toString();
    let rec;
    try {
      rec = decodeBlock(key, kv.value.toString());
    } catch {
      invalid.push(key);
      continue;
    }
    blockRecords.push(rec);
    const allocs = Object.entries(rec.allocations);
    blocks.set(rec.cidr, { node: affinityNode(rec.affinity), empty: allocs.length === 0 });
    for (const [ordinal, a] of allocs) {
      holdingsOf(holdings, a.node).addresses++;
      const list = addresses.get(a.node) ?? [];
      const held: HeldAddress = { ip: ipOf(rec, Number(ordinal)), block: rec.cidr, handle: a.handle };
      if (a.namespace) held.namespace = a.namespace;
      if (a.pod) held.pod = a.pod;
      list.push(held);
      addresses.set(a.node, list);
    }
  }
  for (const kv of affinityKvs) {
    const parsed = keys.parseAffinity(kv.key.toString());
    if (!parsed) continue;
    // Block records store their CIDR formatted the same way.
    const cidr = formatCidr(parsed.cidr);
    const h = holdingsOf(holdings, parsed.node);
    h.blocks.push(cidr);
    const b = blocks.get(cidr);
    // Only a confirmed claim on a block that is really ours and empty: a
    // pending one is a claim in progress.
    if (b && b.node === parsed.node && b.empty && kv.value.toString() === CONFIRMED) h.emptyBlocks.push(cidr);
  }
  return { revision, alive, registered, holdings, addresses, invalid, blockRecords };
}
