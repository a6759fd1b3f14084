/**
 * How a stored resource's JSON becomes a resource again. Shared by every
 * reader of resource keys (the etcd3 store and the HTTP reader) so that both
 * return exactly the same object for the same key: the stored JSON (which
 * holds uid and creationTimestamp) with metadata.resourceVersion set to the
 * key's mod revision. Kept free of any etcd client import.
 */
import { type Resource, TerraceError } from '@terrace/api';

export function withVersion<R extends Resource>(res: R, rev: string): R {
  return { ...res, metadata: { ...res.metadata, resourceVersion: rev } };
}

/** `value` is the key's value as text; `modRevision` its mod revision as etcd reports it (a decimal string). */
export function decodeStoredResource(key: string, value: string, modRevision: string): Resource {
  let res: Resource;
  try {
    res = JSON.parse(value) as Resource;
  } catch (e) {
    throw new TerraceError('Internal', `etcd key ${key} does not hold valid JSON: ${(e as Error).message}`);
  }
  return withVersion(res, modRevision);
}
