/**
 * A stored node status record (status.ts), checked before anyone reads it:
 * the record is written by an agent, possibly an older or a broken one, and
 * one bad record must not stop readers that look at every node.
 */
import { TerraceError } from './errors.js';
import type { NodeStatus } from './status.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function peerFault(p: unknown): string | undefined {
  if (!isObject(p)) return 'a peer is not an object';
  for (const f of ['address', 'source', 'state', 'type'] as const) if (typeof p[f] !== 'string') return `a peer's ${f} is not a string`;
  if (p.since !== undefined && typeof p.since !== 'string') return "a peer's since is not a string";
  return undefined;
}

/** The record of `node`, checked in the fields readers use; an Invalid TerraceError saying what is wrong otherwise. */
export function decodeNodeStatus(node: string, text: string): NodeStatus {
  const fail = (why: string): never => {
    throw new TerraceError('Invalid', `status record of node ${node}: ${why}`);
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) return fail('not an object');
  if (typeof v.updatedAt !== 'string') return fail('updatedAt is not a string');
  if (!isStrings(v.addresses)) return fail('addresses is not a list of strings');
  if (!isStrings(v.advertisedPrefixes)) return fail('advertisedPrefixes is not a list of strings');
  if (!Array.isArray(v.peers)) return fail('peers is not a list');
  for (const p of v.peers) {
    const why = peerFault(p);
    if (why) return fail(why);
  }
  return v as unknown as NodeStatus;
}
