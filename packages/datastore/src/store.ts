/**
 * The resource store contract (implemented in this package). Kept apart so
 * that callers (cli, agent, controller) compile against one stable surface.
 */
import type { Kind, Resource, ResourceOf } from '@terrace/api';

export interface ListResult<K extends Kind> {
  items: ResourceOf<K>[];
  /** The etcd revision the list was read at (start a watch from revision + 1). */
  revision: string;
}

export interface WriteOptions {
  /** Validate and check every rule, but write nothing. */
  dryRun?: boolean;
  /** applyAll of more than MAX_DOCS_PER_TXN documents: called after each transaction with the documents written so far. */
  onWritten?: (done: number, total: number) => void;
}

export interface ResourceStore {
  get<K extends Kind>(kind: K, name: string): Promise<ResourceOf<K>>; // NotFound
  list<K extends Kind>(kind: K): Promise<ListResult<K>>;
  /** Fails with AlreadyExists if the name is taken. Sets uid, creationTimestamp, resourceVersion. */
  create<K extends Kind>(res: ResourceOf<K>, opts?: WriteOptions): Promise<ResourceOf<K>>;
  /** Fails with NotFound if absent; with Conflict if metadata.resourceVersion is set and stale. */
  replace<K extends Kind>(res: ResourceOf<K>, opts?: WriteOptions): Promise<ResourceOf<K>>;
  /**
   * Creates or updates every resource in one etcd transaction: all are
   * written or none. Cross-resource rules (pool overlap, immutable fields)
   * are checked against the stored state inside the same transaction.
   * More than MAX_DOCS_PER_TXN documents do not fit in one etcd transaction:
   * they are written in several, each all-or-nothing, after every one of them
   * has been checked against the stored state; only another writer (or an
   * outage) between two of them can stop the write part-way, and the error
   * then says how many were written.
   */
  applyAll(resources: Resource[], opts?: WriteOptions): Promise<{ resource: Resource; action: 'created' | 'configured' | 'unchanged' }[]>;
  /** Fails with NotFound if absent; with Conflict if resourceVersion is given and stale. */
  delete<K extends Kind>(kind: K, name: string, opts?: { resourceVersion?: string }): Promise<ResourceOf<K>>;
}
