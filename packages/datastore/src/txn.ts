/**
 * Small builders for raw etcd transactions. The etcd3 fluent builders need
 * at least one compare and one round trip per key; these let a caller read
 * many keys and prefixes at one revision (a txn with no compares) and
 * write a set of keys guarded by mod-revision compares.
 */
import type { Etcd3, ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { endpointsOf, mapEtcdError } from './client.js';

/** The smallest key greater than every key starting with prefix (etcd's range_end). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if ((b[i] as number) < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] = (b[i] as number) + 1;
      return end;
    }
  }
  return Buffer.from([0]); // the whole keyspace
}

export function getOp(key: string): IRequestOp {
  return { request_range: { key: Buffer.from(key) } };
}

/** Every key under prefix; `keysOnly` leaves the values out (etcd sends empty ones). */
export function prefixOp(prefix: string, opts: { keysOnly?: boolean } = {}): IRequestOp {
  return { request_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix), ...(opts.keysOnly ? { keys_only: true } : {}) } };
}

export function putOp(key: string, value: string | Buffer): IRequestOp {
  return { request_put: { key: Buffer.from(key), value: typeof value === 'string' ? Buffer.from(value) : value } };
}

export function deleteOp(key: string): IRequestOp {
  return { request_delete_range: { key: Buffer.from(key) } };
}

/** True when key's mod revision is still `rev` ('0' means: the key must not exist). */
export function modEquals(key: string, rev: string): ICompare {
  return { key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: rev };
}

/** True when no key under `prefix` has been written after revision `rev` (true for an empty prefix too). */
export function prefixUnchangedSince(prefix: string, rev: string): ICompare {
  return { key: Buffer.from(prefix), range_end: prefixEnd(prefix), target: 'Mod', result: 'Less', mod_revision: String(BigInt(rev) + 1n) };
}

/** Runs a raw transaction, mapping transport failures to TerraceError. */
export async function txn(etcd: Etcd3, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = []): Promise<ITxnResponse> {
  try {
    return await etcd.kv.txn({ compare, success, failure });
  } catch (e) {
    throw mapEtcdError(e, endpointsOf(etcd));
  }
}

/** Reads keys and prefixes in one snapshot; returns the kvs per op, in order, and the revision read at. */
export async function readAll(etcd: Etcd3, ops: IRequestOp[]): Promise<{ revision: string; results: IKeyValue[][] }> {
  const res = await txn(etcd, [], ops);
  return { revision: res.header.revision, results: res.responses.map((r) => r.response_range.kvs) };
}
