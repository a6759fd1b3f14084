/**
 * The nft program, for Terrace's own table only: read it as JSON, replace it
 * in one transaction. What nft reads is JSON built from parsed values; no
 * shell, no string-built command lines.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerraceError } from '@terrace/api';
import { DEFAULT_IP_COMMAND } from '../constants.js';
import { NAT_TABLE, NAT_TABLE_FAMILY } from './plan.js';

export const DEFAULT_NFT_COMMAND = 'nft';
/** nft answers in milliseconds; one that hangs (a stuck netlink socket) is killed so the next pass can try. */
const NFT_TIMEOUT_MS = 10_000;

export interface NftOptions {
  /** Run nft in this network namespace (`ip netns exec`); default: the agent's own. */
  netns?: string;
  ipCommand?: string;
  nftCommand?: string;
}

function runNft(opts: NftOptions, args: readonly string[]): Promise<string> {
  const nft = opts.nftCommand ?? DEFAULT_NFT_COMMAND;
  const [cmd, argv] = opts.netns === undefined ? [nft, [...args]] : [opts.ipCommand ?? DEFAULT_IP_COMMAND, ['netns', 'exec', opts.netns, nft, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: NFT_TIMEOUT_MS });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new TerraceError('Unavailable', `nft ${args.join(' ')}: cannot run ${cmd}: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(out);
      // nft points at the failing token over several lines; the first says what.
      const status = signal ? `killed by ${signal} (no answer within ${NFT_TIMEOUT_MS / 1000} s?)` : `exit code ${String(code)}`;
      const why = err.split('\n').find((l) => l.trim() !== '') ?? status;
      reject(new TerraceError('Unavailable', `nft ${args.join(' ')}: ${why.trim()}`));
    });
  });
}

interface Listing {
  nftables?: Record<string, unknown>[];
}

/** Objects of a `nft -j list` answer without metainfo and kernel handles. */
export function listedObjects(json: string): Record<string, unknown>[] {
  const parsed = JSON.parse(json) as Listing;
  const out: Record<string, unknown>[] = [];
  for (const o of parsed.nftables ?? []) {
    if ('metainfo' in o) continue;
    const stripped: Record<string, unknown> = {};
    for (const [kind, body] of Object.entries(o)) {
      if (body && typeof body === 'object') {
        const { handle: _handle, ...rest } = body as Record<string, unknown>;
        stripped[kind] = rest;
      } else stripped[kind] = body;
    }
    out.push(stripped);
  }
  return out;
}

/** Terrace's table as listed by the kernel, or undefined when it does not exist. */
export async function readNatTable(opts: NftOptions): Promise<Record<string, unknown>[] | undefined> {
  try {
    return listedObjects(await runNft(opts, ['-j', 'list', 'table', NAT_TABLE_FAMILY, NAT_TABLE]));
  } catch (e) {
    // Absent, or nft failed for another reason: the table list tells which.
    const tables = listedObjects(await runNft(opts, ['-j', 'list', 'tables', NAT_TABLE_FAMILY]));
    if (tables.some((o) => (o['table'] as { name?: string } | undefined)?.name === NAT_TABLE)) throw e;
    return undefined;
  }
}

/**
 * Applies one JSON batch (`nft -j -f FILE`): all of it, or none of it. A
 * private file, because nft opens `-f -` as /dev/stdin, which fails on the
 * socket Node gives a child as stdin.
 */
export async function applyNft(opts: NftOptions, batch: { nftables: unknown[] }): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'terrace-nft-'));
  try {
    const file = join(dir, 'batch.json');
    await writeFile(file, JSON.stringify(batch), { mode: 0o600 });
    await runNft(opts, ['-j', '-f', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The error says nft is not installed (the agent's host has no nftables package). */
export function isNftMissing(e: unknown): boolean {
  return e instanceof TerraceError && (e.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
