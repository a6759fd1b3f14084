/**
 * `terracectl node status [NODE]`: the BGP sessions and route counts each
 * agent publishes to etcd (keys.status(node)), so it works from any host.
 * A record older than NODE_STATUS_STALE_MS is flagged: its agent may be gone
 * (the record is lease-bound, so a dead agent's record vanishes within the
 * lease TTL; a stale one means a stuck agent).
 */
import { Command, Option } from 'commander';
import type { NodeStatus } from '@terrace/api';
import type { CliContext } from '../context.js';
import { formatAge } from '../output/age.js';
import { formatTable } from '../output/table.js';

export const NODE_STATUS_HEADER = ['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO'];

/** One node's section, as printed: a heading, the peer table, the prefix counts. */
export function renderNodeStatus(name: string, status: NodeStatus | undefined, now: Date, staleMs: number): string {
  if (!status) return `Node ${name}: no status published (is terrace-agent running on it?)\n`;
  const ageMs = now.getTime() - Date.parse(status.updatedAt);
  const age = formatAge(status.updatedAt, now);
  const stale = !(ageMs <= staleMs) ? ` STALE: no report for over ${Math.round(staleMs / 1000)}s` : '';
  const backend = status.backend ? `, BGP by ${status.backend}` : '';
  const lines = [`Node ${status.node}: AS ${status.asNumber}, router id ${status.routerId}${backend}, updated ${age} ago${stale}`];
  if (status.peers.length === 0) {
    lines.push('No BGP peers.');
  } else {
    // A record carries a port only when it is not BGP's own (PeerStatusRecord.port).
    const rows = status.peers.map((p) => [
      p.port ? `${p.address}:${p.port}` : p.address,
      p.type,
      p.state,
      p.since ? formatAge(p.since, now) : '-',
      p.bfd === undefined ? p.info : `${p.info}; BFD ${p.bfd}`,
    ]);
    lines.push(formatTable(NODE_STATUS_HEADER, rows).trimEnd());
  }
  lines.push(`Prefixes: ${status.prefixes.received} received, ${status.prefixes.advertised} advertised, ${status.prefixes.installed} routes installed`);
  const rc = status.ribCheck;
  if (rc) lines.push(`RIB check: ${ribCheckText(rc, now)}`);
  if (status.nat) lines.push(`NAT: ${natText(status.nat)}`);
  for (const c of status.addressConflicts ?? []) {
    const who = c.holder ? `now node ${c.holder}'s${c.holderPod ? ` (pod ${c.holderPod})` : ''}` : 'freed in IPAM';
    lines.push(`TAKEN: pod address ${c.address} (device ${c.dev}) is ${who}: recreate that pod`);
  }
  return lines.join('\n') + '\n';
}

/** natOutgoing's table on the node: there, not needed, or why it is not as wanted. */
function natText(nat: NonNullable<NodeStatus['nat']>): string {
  const repaired = nat.repaired > 0 ? `; rewritten ${nat.repaired} time${nat.repaired === 1 ? '' : 's'} after changes outside Terrace` : '';
  if (nat.error !== undefined) return `not in sync (retrying): ${nat.error}${repaired}`;
  return `${nat.installed ? 'table inet terrace-nat in place' : 'no pool has natOutgoing, no table'}${repaired}`;
}

/** The agent's own selection against gobgpd's: `ok`, or how many prefixes differed and one of them. */
function ribCheckText(rc: NonNullable<NodeStatus['ribCheck']>, now: Date): string {
  const when = rc.checkedAt ? `, checked ${formatAge(rc.checkedAt, now)} ago` : '';
  if (rc.state === 'unchecked') return 'not yet checked';
  if (rc.state === 'ok') return `ok${when}`;
  const n = `${rc.diverged} prefix${rc.diverged === 1 ? '' : 'es'}`;
  return `diverged (${n}${rc.example ? `, e.g. ${rc.example}` : ''}); those follow gobgpd${when}`;
}

async function readStatuses(ctx: CliContext, node: string | undefined): Promise<{ name: string; status: NodeStatus | undefined }[]> {
  const ds = await ctx.datastore();
  const { TerraceError, isTerraceError } = await import('@terrace/api');
  const parse = (key: string, text: string): NodeStatus => {
    try {
      return JSON.parse(text) as NodeStatus;
    } catch {
      throw new TerraceError('Internal', `${key}: the stored node status is not JSON`);
    }
  };
  if (node !== undefined) {
    const text = await ds.etcd.get(ds.keys.status(node)).string();
    if (text === null) {
      // No record: say whether the node exists at all.
      try {
        await ds.store.get('Node', node);
      } catch (e) {
        if (isTerraceError(e, 'NotFound')) throw new TerraceError('NotFound', `node/${node}: no such node and no status published for it`, { resource: `node/${node}` });
        throw e;
      }
      return [{ name: node, status: undefined }];
    }
    return [{ name: node, status: parse(ds.keys.status(node), text) }];
  }
  const prefix = ds.keys.statusPrefix();
  const [records, nodes] = await Promise.all([ds.etcd.getAll().prefix(prefix).strings(), ds.store.list('Node')]);
  const byName = new Map<string, NodeStatus | undefined>();
  for (const n of nodes.items) byName.set(n.metadata.name, undefined);
  for (const [key, text] of Object.entries(records)) byName.set(key.slice(prefix.length), parse(key, text));
  return [...byName.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, status]) => ({ name, status }));
}

export function nodeCommand(ctx: CliContext): Command {
  const status = new Command('status')
    .description('BGP sessions and prefixes of every node (or one), as their agents last reported')
    .argument('[node]', 'node name')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'yaml', 'json']).default('table'))
    .action(async (node: string | undefined, opts: { output: 'table' | 'yaml' | 'json' }) => {
      const found = await readStatuses(ctx, node);
      if (opts.output !== 'table') {
        const records = found.map((f) => f.status ?? { node: f.name, status: 'no status published' });
        ctx.serialize(node === undefined ? records : records[0], opts.output);
        return;
      }
      if (found.length === 0) {
        ctx.print('No nodes.');
        return;
      }
      const { NODE_STATUS_STALE_MS } = await import('@terrace/api');
      const now = new Date();
      ctx.print(found.map((f) => renderNodeStatus(f.name, f.status, now, NODE_STATUS_STALE_MS)).join('\n'));
    });
  return new Command('node').description('node BGP and routing status').addCommand(status);
}
