/**
 * The terracectl command tree. Only commander and the command definitions
 * load here; each command imports what it needs (api, datastore, yaml) when
 * it runs, which keeps a cold start close to bare node.
 */
import { Command } from 'commander';
import { withConnectionOptions } from '@terrace/datastore/config';
import type { CliContext } from './context.js';
import { clusterCommand } from './commands/cluster.js';
import { controllerCommand } from './commands/controller.js';
import { deleteCommand } from './commands/delete.js';
import { diagsCommand } from './commands/diags.js';
import { explainCommand } from './commands/explain.js';
import { getCommand } from './commands/get.js';
import { ipamCommand } from './commands/ipam.js';
import { labelCommand } from './commands/label.js';
import { nodeCommand } from './commands/node.js';
import { patchCommand } from './commands/patch.js';
import { validateCommand } from './commands/validate.js';
import { versionCommand } from './commands/version.js';
import { writeCommand } from './commands/write.js';

export function buildProgram(ctx: CliContext): Command {
  const program = withConnectionOptions(
    new Command('terracectl').description('manage Terrace pod networking: IP pools, BGP peers and settings, nodes, IPAM'),
  ).showSuggestionAfterError(true);

  program.addCommand(writeCommand('apply', ctx));
  program.addCommand(writeCommand('create', ctx));
  program.addCommand(writeCommand('replace', ctx));
  program.addCommand(deleteCommand(ctx));
  program.addCommand(getCommand(ctx));
  program.addCommand(patchCommand(ctx));
  program.addCommand(labelCommand(ctx));
  program.addCommand(validateCommand(ctx));
  program.addCommand(versionCommand(ctx));
  program.addCommand(ipamCommand(ctx));
  program.addCommand(nodeCommand(ctx));
  program.addCommand(controllerCommand(ctx));
  program.addCommand(clusterCommand(ctx));
  program.addCommand(explainCommand(ctx));
  program.addCommand(diagsCommand(ctx));
  forEachCommand(program, (c) => c.exitOverride());
  return program;
}

/** Settings given to addCommand()ed commands are not inherited, so apply them to the whole tree. */
function forEachCommand(c: Command, f: (c: Command) => void): void {
  f(c);
  for (const sub of c.commands) forEachCommand(sub, f);
}
