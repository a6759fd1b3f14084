/**
 * `terracectl controller status`: what the acting terrace-controller last
 * reported (keys.controllerStatus()): who leads, when it last ran, which
 * nodes are alive, in their grace period (with the time left) or released,
 * and what it freed. The current election leader is read as well, so a
 * report left by a controller that is gone is recognisable.
 */
import { Command, Option } from 'commander';
import type { ControllerStatus } from '@terrace/api';
import type { CliContext } from '../context.js';
import { formatAge } from '../output/age.js';
import { formatTable } from '../output/table.js';

export const CONTROLLER_NODES_HEADER = ['NODE', 'STATE', 'GONE FOR', 'TIME LEFT', 'ADDRESSES', 'BLOCKS'];

/** `0` → `0s`, 75 → `1m15s`, 7260 → `2h1m`. */
export function formatSeconds(total: number): string {
  const s = Math.max(0, Math.round(total));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The status as printed. `electedNow` is the election's current leader
 * (undefined: no controller campaigns); `now` makes output deterministic.
 */
export function renderControllerStatus(status: ControllerStatus | undefined, electedNow: string | undefined, now: Date): string {
  if (!status) {
    return electedNow === undefined
      ? 'No controller status: no terrace-controller has run in this cluster.\n'
      : `Controller ${electedNow} leads but has not finished a pass yet.\n`;
  }
  const lines: string[] = [];
  const sinceLast = (now.getTime() - Date.parse(status.lastPass)) / 1000;
  // Two missed passes (and a little slack) mean the writer has stopped.
  const stale = sinceLast > 2 * status.intervalSeconds + 5;
  lines.push(
    `Leader ${status.leader} since ${formatAge(status.leaderSince, now)} ago; last pass ${formatAge(status.lastPass, now)} ago ` +
      `(pass ${status.passes}, ${status.lastPassMs} ms)${stale ? ' STALE' : ''}`,
  );
  if (electedNow === undefined) lines.push('No controller is running now: this is the last report.');
  else if (electedNow !== status.leader) lines.push(`The election now names ${electedNow}; it has not reported yet.`);
  lines.push(`Node grace period ${formatSeconds(status.graceSeconds)}, pass interval ${formatSeconds(status.intervalSeconds)}.`);
  const t = status.totals;
  lines.push(
    `Since elected: ${plural(t.nodesReleased, 'node')} released, ${plural(t.addressesFreed, 'address', 'addresses')} freed, ` +
      `${plural(t.blocksReleased, 'block')} released, ${plural(t.poolsCreated, 'pool')} created.`,
  );
  if (status.nodes.length === 0) {
    lines.push('No nodes.');
  } else {
    const rows = status.nodes.map((n) => {
      const goneFor = n.goneSince ? formatSeconds((now.getTime() - Date.parse(n.goneSince)) / 1000) : '-';
      let left = '-';
      if (n.state === 'grace' && n.goneSince) {
        // Counted from the report's clock, so it keeps running between passes.
        const secs = (Date.parse(n.goneSince) + status.graceSeconds * 1000 - now.getTime()) / 1000;
        left = secs > 0 ? formatSeconds(Math.ceil(secs)) : 'due';
      }
      return [n.node, n.state, goneFor, left, String(n.addresses), String(n.blocks)];
    });
    lines.push(formatTable(CONTROLLER_NODES_HEADER, rows).trimEnd());
    for (const n of status.nodes) if (n.state === 'held' && n.heldReason) lines.push(`Held ${n.node}: ${n.heldReason}.`);
  }
  if (status.errors.length > 0) {
    lines.push('Recent errors:');
    for (const e of status.errors) lines.push(`  ${formatAge(e.time, now)} ago: ${e.message}`);
  }
  return `${lines.join('\n')}\n`;
}

async function readAll(ctx: CliContext): Promise<{ status: ControllerStatus | undefined; electedNow: string | undefined }> {
  const ds = await ctx.datastore();
  const [text, leader] = await Promise.all([
    ds.etcd.get(ds.keys.controllerStatus()).string(),
    // The oldest candidate key leads (etcd's election); its value is the controller's identity.
    ds.etcd.getAll().prefix(ds.keys.leaderElectionPrefix()).sort('Create', 'Ascend').limit(1).strings(),
  ]);
  let status: ControllerStatus | undefined;
  if (text !== null) {
    try {
      status = JSON.parse(text) as ControllerStatus;
    } catch {
      const { TerraceError } = await import('@terrace/api');
      throw new TerraceError('Internal', `${ds.keys.controllerStatus()}: the stored controller status is not JSON`);
    }
  }
  return { status, electedNow: Object.values(leader)[0] };
}

export function controllerCommand(ctx: CliContext): Command {
  const status = new Command('status')
    .description('what the acting terrace-controller last did: leader, last pass, nodes alive / in grace / released, what it freed')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'yaml', 'json']).default('table'))
    .action(async (opts: { output: 'table' | 'yaml' | 'json' }) => {
      const { status: s, electedNow } = await readAll(ctx);
      if (opts.output !== 'table') {
        ctx.serialize({ electedLeader: electedNow ?? null, status: s ?? null }, opts.output);
        return;
      }
      ctx.print(renderControllerStatus(s, electedNow, new Date()));
    });
  return new Command('controller').description('the terrace-controller (leader election, dead-node garbage collection)').addCommand(status);
}
