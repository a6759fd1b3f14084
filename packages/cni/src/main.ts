/**
 * terrace-cni: the executable a container runtime calls. It reads the
 * environment and stdin, answers VERSION itself, forwards everything else
 * to the node's agent, prints the result or error JSON and exits. Imports
 * stay minimal: the runtime starts this process for every pod.
 */
import { readFileSync } from 'node:fs';
import { runPlugin } from './plugin/run.js';

function readStdin(): Uint8Array {
  try {
    return readFileSync(0);
  } catch {
    // no stdin at all (closed or a terminal that went away): an empty config
    return new Uint8Array();
  }
}

const out = await runPlugin(process.env, readStdin());
if (out.stdout !== '') process.stdout.write(out.stdout + '\n');
process.exitCode = out.exitCode;
