/** version: the client's version, then (unless --client) the cluster and etcd it talks to. */
import { readFileSync } from 'node:fs';
import type { CliContext } from '../context.js';

export function clientVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

export async function runVersion(ctx: CliContext, clientOnly: boolean): Promise<void> {
  ctx.print(`Client Version: ${clientVersion()}`);
  if (clientOnly) return;
  const ds = await ctx.datastore();
  const status = await ds.etcd.maintenance.status();
  ctx.print(`Cluster:        ${ds.keys.cluster}`);
  ctx.print(`Endpoints:      ${ds.endpoints.join(',')}`);
  ctx.print(`etcd Version:   ${status.version}`);
}
