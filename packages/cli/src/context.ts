/**
 * What every terracectl command gets: the global options, a lazily opened
 * datastore, and the output helpers. Opening etcd is lazy so that offline
 * commands (validate, version) never load the etcd client.
 */
import type { Keys, ResourceStore } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';

export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json';

export interface GlobalOptions {
  etcdEndpoints?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUsername?: string;
  etcdPassword?: string;
  cluster?: string;
  config?: string;
}

export interface Datastore {
  etcd: Etcd3;
  keys: Keys;
  store: ResourceStore;
  /** The endpoints in use, for messages. */
  endpoints: string[];
  close(): Promise<void>;
}

export interface CliContext {
  globals(): GlobalOptions;
  /** Opens (once) and returns the datastore; fails with an Unavailable TerraceError naming the endpoint. */
  datastore(): Promise<Datastore>;
  /** Writes to stdout. */
  print(text: string): void;
  /** Prints rows as an aligned table with the given header. */
  table(header: string[], rows: string[][]): void;
  /** Serialises a value as YAML or JSON to stdout. */
  serialize(value: unknown, format: 'yaml' | 'json'): void;
  /** Progress for long operations: shown on a terminal (stderr), silent otherwise. */
  progress(label: string, done: number, total: number): void;
  /**
   * Marks a command that ran to completion but found problems (`ipam check`):
   * the process then exits with FOUND_PROBLEMS_EXIT instead of 0.
   */
  foundProblems(): void;
}

/** Exit status of a check that completed and found something to fix (see docs/cli.md). */
export const FOUND_PROBLEMS_EXIT = 4;
