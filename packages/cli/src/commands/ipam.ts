/**
 * `terracectl ipam`: show usage, find leaks (check), free them (release,
 * from a report, dry run first), and set the IPAM configuration. The IPAM
 * package loads only when a subcommand runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { CliContext } from '../context.js';

async function allocator(ctx: CliContext) {
  const [{ Allocator }, ds] = await Promise.all([import('@terrace/ipam'), ctx.datastore()]);
  return new Allocator({ etcd: ds.etcd, keys: ds.keys, cacheTtlMs: 0 });
}

function parseBool(flag: string, v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`${flag} must be true or false, got ${JSON.stringify(v)}`);
}

function parseCount(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new Error(`${flag} must be a whole number (0 = unlimited), got ${JSON.stringify(v)}`);
  return Number(v);
}

async function invalid(message: string): Promise<never> {
  const { TerraceError } = await import('@terrace/api');
  throw new TerraceError('Invalid', message);
}

function showCommand(ctx: CliContext): Command {
  return new Command('show')
    .description('IP usage per pool; with --show-blocks per block; with --ip who holds an address')
    .option('--show-blocks', 'list every block: affinity, used/size, borrowed')
    .option('--ip <addr>', 'show who holds this address')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts: { showBlocks?: boolean; ip?: string; output: 'table' | 'json' }) => {
      const a = await allocator(ctx);
      if (opts.ip !== undefined) {
        const info = await a.lookup(opts.ip);
        if (opts.output === 'json') return ctx.serialize(info ?? { ip: opts.ip, free: true }, 'json');
        if (!info) return ctx.print(`${opts.ip} is not allocated`);
        const pod = info.pod ? `${info.namespace ?? ''}/${info.pod}` : '';
        return ctx.table(['IP', 'HANDLE', 'NODE', 'POD', 'BLOCK', 'SEQ'], [[info.ip, info.handle, info.node, pod, info.block, String(info.seq)]]);
      }
      if (opts.showBlocks) {
        const blocks = await a.blocks();
        if (opts.output === 'json') return ctx.serialize(blocks, 'json');
        return ctx.table(
          ['BLOCK', 'POOL', 'AFFINITY', 'USED', 'BORROWED'],
          blocks.map((b) => [b.cidr, b.pool ?? '-', b.node ? `host:${b.node}` : '-', `${b.used}/${b.size}`, String(b.borrowed)]),
        );
      }
      const usage = await a.poolUsage();
      if (opts.output === 'json') return ctx.serialize(usage, 'json');
      ctx.table(
        ['POOL', 'CIDR', 'SIZE', 'ALLOCATED', 'FREE', 'BLOCKS', 'DISABLED'],
        usage.map((u) => [u.name, u.cidr, u.size, String(u.allocated), u.free, String(u.blocks), String(u.disabled)]),
      );
      // The multi-cluster fence (only while a RemoteCluster exists): what no new address comes from.
      for (const u of usage) for (const line of [u.held, ...(u.fenced ?? [])]) if (line) ctx.print(line);
    });
}

function checkCommand(ctx: CliContext): Command {
  return new Command('check')
    .description('find leaked addresses, handles and blocks, and addresses two pod interfaces may share (exit status 4 when any is found); -o writes the JSON report for `ipam release --from-report`')
    .option('-o, --output <file>', 'write the JSON report to this file')
    .action(async (opts: { output?: string }) => {
      const a = await allocator(ctx);
      const { ISSUE_KINDS, ISSUE_TITLES, SHARED_ADDRESS_KINDS } = await import('@terrace/ipam');
      const report = await a.check((done, total) => ctx.progress('reading IPAM state', done, total));
      const c = report.counts;
      ctx.print(`checked ${c.blocks} blocks, ${c.allocations} allocations, ${c.handles} handles, ${c.affinities} affinities, ${c.nodes} nodes at revision ${report.revision}`);
      ctx.table(
        ['CHECK', 'FOUND'],
        ISSUE_KINDS.map((k) => [ISSUE_TITLES[k], String(report.summary[k])]),
      );
      if (opts.output) {
        writeFileSync(opts.output, `${JSON.stringify(report, null, 2)}\n`);
        ctx.print(`report written to ${opts.output}`);
      } else if (report.issues.length > 0) {
        ctx.print('write the report with -o FILE, then free it with `terracectl ipam release --from-report FILE`');
      }
      const shared = report.issues.filter((i) => SHARED_ADDRESS_KINDS.includes(i.kind)).length;
      if (shared > 0) {
        ctx.print(`${shared} of these may mean two pod interfaces hold one address: release --from-report leaves them; free the wrong holder with \`terracectl ipam release --ip\``);
      }
      if (report.issues.length > 0) ctx.foundProblems();
    });
}

function releaseCommand(ctx: CliContext): Command {
  return new Command('release')
    .description('free an address, or what a check report lists (only what is still in the reported state)')
    .option('--ip <addr>', 'the address to free')
    .option('--from-report <file>', 'a report written by `ipam check -o`')
    .option('--dry-run', 'show what would be done, change nothing')
    .action(async (opts: { ip?: string; fromReport?: string; dryRun?: boolean }) => {
      if ((opts.ip === undefined) === (opts.fromReport === undefined)) await invalid('ipam release: give exactly one of --ip or --from-report');
      const a = await allocator(ctx);
      if (opts.ip !== undefined) {
        const info = await a.lookup(opts.ip);
        if (!info) return ctx.print(`${opts.ip} is not allocated: nothing to do`);
        const pod = info.pod ? ` pod ${info.namespace ?? ''}/${info.pod}` : '';
        ctx.print(`${opts.dryRun ? 'would release' : 'releasing'} ${info.ip} (handle ${info.handle}, node ${info.node}${pod}, block ${info.block})`);
        if (opts.dryRun) return;
        // Pinned by seq: if the address changed hands since the lookup, nothing is freed.
        const done = await a.release({ ip: info.ip, seq: info.seq, handle: info.handle });
        return ctx.print(done.length ? `released ${info.ip}` : `${info.ip} changed since it was read: not released`);
      }
      let report: { issues: import('@terrace/ipam').CheckIssue[] };
      try {
        report = JSON.parse(readFileSync(opts.fromReport as string, 'utf8')) as typeof report;
      } catch (e) {
        return invalid(`--from-report ${opts.fromReport}: ${(e as Error).message}`);
      }
      if (!Array.isArray(report.issues)) await invalid(`--from-report ${opts.fromReport}: not an ipam check report (no "issues")`);
      // Always show the plan first.
      const plan = await a.repair(report, { dryRun: true, progress: (d, t) => ctx.progress('planning', d, t) });
      ctx.table(
        ['ACTION', 'STATE'],
        plan.map((p) => [p.action, p.outcome === 'skipped' ? `skip: ${p.reason ?? ''}` : 'as reported']),
      );
      if (opts.dryRun) return ctx.print(`dry run: ${plan.filter((p) => p.outcome === 'would').length} of ${plan.length} would be applied`);
      const done = await a.repair(report, { progress: (d, t) => ctx.progress('releasing', d, t) });
      const applied = done.filter((p) => p.outcome === 'done').length;
      for (const p of done.filter((x) => x.outcome === 'skipped')) ctx.print(`skipped: ${p.action}: ${p.reason ?? ''}`);
      ctx.print(`applied ${applied} of ${done.length}`);
    });
}

function configureCommand(ctx: CliContext): Command {
  return new Command('configure')
    .description('set IPAM options (the IPAMConfig resource "default")')
    .option('--strict-affinity <bool>', 'true: never borrow addresses from other nodes\' blocks')
    .option('--max-blocks-per-host <n>', 'most blocks one node may claim per family (0 = unlimited)')
    .action(async (opts: { strictAffinity?: string; maxBlocksPerHost?: string }) => {
      if (opts.strictAffinity === undefined && opts.maxBlocksPerHost === undefined) {
        await invalid('ipam configure: give --strict-affinity and/or --max-blocks-per-host');
      }
      let strict: boolean | undefined;
      let max: number | undefined;
      try {
        strict = opts.strictAffinity === undefined ? undefined : parseBool('--strict-affinity', opts.strictAffinity);
        max = opts.maxBlocksPerHost === undefined ? undefined : parseCount('--max-blocks-per-host', opts.maxBlocksPerHost);
      } catch (e) {
        return invalid((e as Error).message);
      }
      const [{ isTerraceError, API_VERSION }, { DEFAULT_IPAM_CONFIG }, ds] = await Promise.all([import('@terrace/api'), import('@terrace/ipam'), ctx.datastore()]);
      let current;
      try {
        current = await ds.store.get('IPAMConfig', 'default');
      } catch (e) {
        if (!isTerraceError(e, 'NotFound')) throw e;
      }
      const spec = { ...DEFAULT_IPAM_CONFIG, ...current?.spec };
      if (strict !== undefined) spec.strictAffinity = strict;
      if (max !== undefined) spec.maxBlocksPerHost = max;
      const saved = current
        ? await ds.store.replace({ ...current, spec })
        : await ds.store.create({ apiVersion: API_VERSION, kind: 'IPAMConfig', metadata: { name: 'default' }, spec });
      ctx.print(`ipamconfig/default ${current ? 'configured' : 'created'}: strictAffinity=${saved.spec.strictAffinity} maxBlocksPerHost=${saved.spec.maxBlocksPerHost}`);
    });
}

export function ipamCommand(ctx: CliContext): Command {
  return new Command('ipam')
    .description('IP address management (show, check, release, configure)')
    .addCommand(showCommand(ctx))
    .addCommand(checkCommand(ctx))
    .addCommand(releaseCommand(ctx))
    .addCommand(configureCommand(ctx));
}
