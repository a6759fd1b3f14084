/**
 * Thin helpers over etcd3 for reading values with their revisions. Every
 * IPAM write compares the revisions read here, so they travel together.
 */
import type { Etcd3, IKeyValue, IResponseOp } from 'etcd3';

export interface KV {
  key: string;
  text: string;
  /** mod_revision: what a compare-and-swap pins. */
  mod: string;
  create: string;
}

export function toKV(kv: IKeyValue): KV {
  return { key: kv.key.toString(), text: kv.value.toString(), mod: String(kv.mod_revision), create: String(kv.create_revision) };
}

/** The first key-value of a range response inside a txn, if any. */
export function rangeKV(op: IResponseOp | undefined): KV | undefined {
  const kv = op?.response_range?.kvs?.[0];
  return kv ? toKV(kv) : undefined;
}

export async function readKey(etcd: Etcd3, key: string, revision?: string): Promise<KV | undefined> {
  const b = etcd.get(key);
  if (revision !== undefined) b.revision(revision);
  const res = await b.exec();
  const kv = res.kvs[0];
  return kv ? toKV(kv) : undefined;
}

/** Every key-value under `prefix`, and the revision they were read at. */
export async function readPrefix(etcd: Etcd3, prefix: string, revision?: string): Promise<{ kvs: KV[]; revision: string }> {
  const b = etcd.getAll().prefix(prefix);
  if (revision !== undefined) b.revision(revision);
  const res = await b.exec();
  return { kvs: res.kvs.map(toKV), revision: String(res.header.revision) };
}

/** Only the keys under `prefix` (cheap: no values travel). */
export async function readKeys(etcd: Etcd3, prefix: string): Promise<string[]> {
  return etcd.getAll().prefix(prefix).keys();
}
