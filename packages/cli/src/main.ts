/**
 * terracectl entry point (bin/terracectl imports this file). Runs one
 * command, prints any failure as a single `error: ...` line on stderr, and
 * exits with the code exitCodeFor gives: 0 ok, 1 invalid input, conflict or
 * not found, 2 datastore unreachable, 3 internal; 4 when a check ran and
 * found problems.
 */
import { CommanderError } from 'commander';
import type { GlobalOptions } from './context.js';
import { createContext } from './cli-context.js';
import { buildProgram } from './program.js';
import { reportError } from './report.js';

async function main(argv: string[]): Promise<number> {
  // The program is created after the context, which reads its options lazily.
  let options: () => GlobalOptions = () => ({});
  const ctx = createContext(() => options());
  const program = buildProgram(ctx);
  options = () => program.opts<GlobalOptions>();
  let code = 0;
  try {
    await program.parseAsync(argv);
    code = ctx.exitStatus();
  } catch (e) {
    ctx.endProgress();
    // Commander has already printed its own one-line "error: ..." (or the help).
    code = e instanceof CommanderError ? e.exitCode : await reportError(e, await ctx.openedEndpoints());
  } finally {
    await ctx.close();
  }
  return code;
}

const code = await main(process.argv);
// process.exit drops output still queued for a pipe (a program reading
// terracectl's output, not a terminal): let stdout and stderr drain first.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
// Exit explicitly: an etcd client can keep the event loop alive after close.
process.exit(code);
