// Stub: `terracectl node status` is implemented by the agent work (issue 4).
import { Command } from 'commander';
import type { CliContext } from '../context.js';

export function nodeCommand(_ctx: CliContext): Command {
  return new Command('node').description('node BGP and routing status');
}
