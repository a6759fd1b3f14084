// Stub: `terracectl ipam ...` is implemented by the IPAM work (issue 3).
import { Command } from 'commander';
import type { CliContext } from '../context.js';

export function ipamCommand(_ctx: CliContext): Command {
  return new Command('ipam').description('IP address management (show, check, release, configure)');
}
