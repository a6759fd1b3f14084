/**
 * Headless Chromium inside a lab namespace, driven by playwright-core.
 *
 * Lab hosts never reach the root namespace, so the browser runs inside the
 * namespace that reaches the page: Playwright starts a small per-run wrapper
 * script as its "executable", and the wrapper execs Debian's chromium under
 * `ip netns exec`. Playwright talks to the browser over a pipe (inherited
 * file descriptors), so no port is opened anywhere.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium in `ns`; the wrapper script is written into `dir` (the run's temporary directory). */
export async function launchBrowserIn(ns: string, dir: string): Promise<Browser> {
  if (!/^[A-Za-z0-9_.-]+$/.test(ns)) throw new Error(`browser: namespace name ${JSON.stringify(ns)} is not a plain name`);
  const wrapper = join(dir, `chromium-in-${ns}.sh`);
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return chromium.launch({ executablePath: wrapper, args: ARGS, timeout: 60_000 });
}
