/**
 * `terracectl explain ip ADDR`: where an address lives and whether it is
 * reachable: its pool, block and holder from IPAM, each live node's kernel
 * route and BGP paths for it (a route query answered by the agents), and the
 * first thing that is wrong (exit status 4), or "healthy" (0).
 */
import { Command, Option } from 'commander';
import type { CliContext } from '../context.js';

export function explainCommand(ctx: CliContext): Command {
  const ip = new Command('ip')
    .description('pool, block, holder, every node\'s route and BGP paths for an address, and the first fault found (exit status 4)')
    .argument('<addr>', 'an IPv4 or IPv6 address')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'yaml', 'json']).default('table'))
    .action(async (addr: string, opts: { output: 'table' | 'yaml' | 'json' }) => {
      const [{ gatherFacts, parseExplainAddress }, { findFaults, unknownNodes }, { renderExplain }] = await Promise.all([
        import('../explain/gather.js'),
        import('../explain/faults.js'),
        import('../explain/render.js'),
      ]);
      const canonical = parseExplainAddress(addr);
      const facts = await gatherFacts(await ctx.datastore(), canonical, `terracectl explain (pid ${process.pid})`);
      const faults = findFaults(facts);
      if (opts.output === 'table') ctx.print(renderExplain(facts, faults));
      else ctx.serialize({ ...facts, healthy: faults.length === 0, faults, unknown: unknownNodes(facts) }, opts.output);
      if (faults.length > 0) ctx.foundProblems();
    });
  return new Command('explain').description('explain how an address is allocated and routed').addCommand(ip);
}
