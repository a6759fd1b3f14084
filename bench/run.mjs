#!/usr/bin/env node
// `npm run bench -- NAME [args]` runs bench/NAME.mjs; with no NAME, lists them.
// Every benchmark prints JSON and ends with one JSON line summarising the run.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const names = readdirSync(here).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs').map((f) => f.slice(0, -4));
const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <${names.join('|')}>`);
  process.exit(name ? 1 : 0);
}
process.argv = [process.argv[0], join(here, `${name}.mjs`), ...rest];
await import(pathToFileURL(join(here, `${name}.mjs`)).href);
