/**
 * Reading the controller's RemoteClusterState docs (@terrace/api
 * multicluster.ts). Only the fields routing uses are checked; a doc that
 * lacks them is refused whole (the watch cache logs and skips it) rather
 * than half used.
 */
import { type RemoteClusterState, TerraceError } from '@terrace/api';

function fail(why: string): never {
  throw new TerraceError('Invalid', `remote cluster state: ${why}`);
}

const isString = (x: unknown): x is string => typeof x === 'string';

export function decodeRemoteState(text: string): RemoteClusterState {
  const doc: unknown = JSON.parse(text);
  if (typeof doc !== 'object' || doc === null) fail('not an object');
  const d = doc as Record<string, unknown>;
  if (!isString(d.name) || !isString(d.uid)) fail('name and uid must be strings');
  if (!Array.isArray(d.pools) || !d.pools.every((p: unknown) => typeof p === 'object' && p !== null && isString((p as { cidr?: unknown }).cidr) && isString((p as { name?: unknown }).name))) {
    fail(`${d.name}: pools must be a list of {name, cidr}`);
  }
  const gwOk = (g: unknown): boolean => {
    const x = g as { name?: unknown; addresses?: unknown; asNumber?: unknown };
    return typeof g === 'object' && g !== null && isString(x.name) && Array.isArray(x.addresses) && x.addresses.every(isString) && Number.isInteger(x.asNumber);
  };
  if (!Array.isArray(d.gateways) || !d.gateways.every(gwOk)) fail(`${d.name}: gateways must be a list of {name, addresses, asNumber}`);
  return doc as RemoteClusterState;
}
