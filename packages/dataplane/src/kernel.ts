/**
 * Talking to the kernel through iproute2: reading our protocol's routes and
 * rendering routes as `ip route` arguments (for messages and tests).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerraceError, type IPFamily } from '@terrace/api';
import { canonOf, deleteArgs, isModelled, replaceArgs, routeFromCanon, type RouteCanon } from './canon.js';
import { DEFAULT_IP_COMMAND, ROUTE_PROTOCOL } from './constants.js';
import { parseRouteDump } from './dump.js';
import type { Route } from './route.js';

export interface IpOptions {
  /** Network namespace (`ip -n NAME`); default: the caller's own. */
  readonly netns?: string;
  /** The iproute2 binary; default `ip` on PATH. */
  readonly ipCommand?: string;
}

/** `ip` arguments with the namespace in front. */
export function ipArgs(opts: IpOptions, args: readonly string[]): string[] {
  return opts.netns === undefined ? [...args] : ['-n', opts.netns, ...args];
}

/** `route replace ...`: one `ip -batch` line installing or updating the route. */
export function replaceLine(r: Route): string {
  return 'route replace ' + replaceArgs(canonOf(r));
}

/** `route del ...`: one `ip -batch` line deleting the route, if it is of our protocol. */
export function deleteLine(r: Route): string {
  return 'route del ' + deleteArgs(canonOf(r));
}

// Large dumps go to a file on tmpfs, not a pipe: ip writes its output in 4 KiB
// pieces, and through a pipe each one is a round trip between two processes
// (a 100,000-route dump read 30–50% faster this way).
const SCRATCH_DIR = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
let scratchCounter = 0;

/**
 * Runs `ip` and returns its stdout; throws a TerraceError (Unavailable) with
 * the first line of its stderr when it fails.
 */
export function runIp(opts: IpOptions, args: readonly string[]): Promise<string> {
  const cmd = opts.ipCommand ?? DEFAULT_IP_COMMAND;
  const full = ipArgs(opts, args);
  const path = join(SCRATCH_DIR, `terrace-ip-${process.pid}-${++scratchCounter}`);
  const fd = openSync(path, 'wx+', 0o600);
  // Gone from the directory at once; the open descriptor keeps the data.
  unlinkSync(path);
  return new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, full, { stdio: ['ignore', fd, 'pipe'] });
    const err: Buffer[] = [];
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(new TerraceError('Unavailable', `${cmd} ${full.join(' ')}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (code !== 0 || stderr.includes('Dump was interrupted')) {
        reject(new TerraceError('Unavailable', `${cmd} ${full.join(' ')} exited ${code}: ${stderr.split('\n')[0] ?? ''}`));
        return;
      }
      const buf = Buffer.allocUnsafe(fstatSync(fd).size);
      let got = 0;
      while (got < buf.length) got += readSync(fd, buf, got, buf.length - got, got);
      resolve(buf.toString('utf8'));
    });
  }).finally(() => closeSync(fd));
}

async function dumpFamily(opts: IpOptions, family: IPFamily): Promise<RouteCanon[]> {
  const args = ['-N', `-${family}`, 'route', 'show', 'proto', String(ROUTE_PROTOCOL), 'table', 'all'];
  // A dump that races with route changes can come back marked inconsistent: retry it.
  for (let attempt = 1; ; attempt++) {
    try {
      return parseRouteDump(await runIp(opts, args), family);
    } catch (e) {
      if (attempt >= 3 || !(e instanceof TerraceError) || !e.message.includes('interrupted')) throw e;
    }
  }
}

/** The kernel's routes of our protocol, both families, every table, as canonical forms. */
export async function readKernelCanons(opts: IpOptions = {}): Promise<RouteCanon[]> {
  const [v4, v6] = await Promise.all([dumpFamily(opts, 4), dumpFamily(opts, 6)]);
  if (v6.length === 0) return v4;
  if (v4.length === 0) return v6;
  return v4.concat(v6);
}

/**
 * The kernel's routes of our protocol, both families, every table. Routes of
 * types Terrace never installs (throw, local, nexthop objects) are left out;
 * RouteSync still removes them.
 */
export async function readKernelRoutes(opts: IpOptions = {}): Promise<Route[]> {
  const out: Route[] = [];
  for (const c of await readKernelCanons(opts)) if (isModelled(c)) out.push(routeFromCanon(c));
  return out;
}
