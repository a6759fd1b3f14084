/**
 * `make lab` (`up`) and `make lab-down` (`down`), on the state directory
 * `.lab/` at the repository root (or the one given as the second argument).
 */
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../proc.js';
import { labDown } from './down.js';
import { labUp } from './up.js';
import { ENV_FILE, renderGuide } from './state.js';

async function main(): Promise<number> {
  const [what, given] = process.argv.slice(2);
  const dir = given ?? join(REPO_ROOT, '.lab');
  if (what === 'up') {
    process.stdout.write('building the lab (one rack: node-1 and node-2 on GoBGP, node-3 on BIRD, an FRR ToR, etcd and the controller)...\n');
    const lab = await labUp(dir);
    process.stdout.write(renderGuide(lab, relative(process.cwd(), join(dir, ENV_FILE)) || join(dir, ENV_FILE)));
    return 0;
  }
  if (what === 'down') {
    const r = await labDown(dir);
    for (const line of r.stopped) process.stdout.write(`${line}\n`);
    if (r.prefix === undefined) process.stdout.write('no lab is running\n');
    else if (r.left.length > 0) process.stdout.write(`lab ${r.prefix}: LEFT BEHIND ${r.left.join(', ')}\n`);
    else process.stdout.write(`lab ${r.prefix} is down: its daemons are stopped and no namespace starts with ${r.prefix}\n`);
    return r.left.length > 0 ? 1 : 0;
  }
  process.stderr.write(`lab: unknown command ${what ?? '(none)'}: use up or down\n`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`lab: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
