/**
 * The CliContext every command receives (see context.ts). Everything heavy
 * (the etcd client, the YAML library) is loaded on first use, so that
 * `terracectl validate` and `terracectl version --client` stay offline and every
 * command starts fast.
 */
import { createRequire } from 'node:module';
import { FOUND_PROBLEMS_EXIT, type CliContext, type Datastore, type GlobalOptions } from './context.js';
import { formatTable } from './output/table.js';
import { makeProgress } from './output/progress.js';
import { openDatastore } from './datastore.js';

export interface CliContextImpl extends CliContext {
  /** Closes the datastore if it was opened; safe to call more than once. */
  close(): Promise<void>;
  /** The endpoints of the datastore if it was opened successfully, for error messages. */
  openedEndpoints(): Promise<readonly string[]>;
  /** The exit status of a command that did not throw: 0, or FOUND_PROBLEMS_EXIT. */
  exitStatus(): number;
  /** Ends a progress line a failure left open, before the error is printed. */
  endProgress(): void;
}

const requireHere = createRequire(import.meta.url);

export function createContext(globals: () => GlobalOptions, out: NodeJS.WritableStream = process.stdout): CliContextImpl {
  let opened: Promise<Datastore> | undefined;
  let problems = false;
  const progress = makeProgress();
  const write = (text: string): void => {
    out.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  };
  return {
    globals,
    datastore() {
      opened ??= openDatastore(globals());
      return opened;
    },
    print: write,
    table(header, rows) {
      write(formatTable(header, rows));
    },
    serialize(value, format) {
      if (format === 'json') {
        write(JSON.stringify(value, null, 2));
      } else {
        // Loaded synchronously on demand: the YAML library costs tens of
        // milliseconds that table output never needs to pay.
        const yaml = requireHere('yaml') as typeof import('yaml');
        write(yaml.stringify(value));
      }
    },
    progress,
    endProgress: progress.end,
    foundProblems() {
      problems = true;
    },
    exitStatus() {
      return problems ? FOUND_PROBLEMS_EXIT : 0;
    },
    async openedEndpoints() {
      try {
        return opened ? (await opened).endpoints : [];
      } catch {
        return [];
      }
    },
    async close() {
      if (!opened) return;
      const p = opened;
      opened = undefined;
      try {
        await (await p).close();
      } catch {
        // Never opened (unreachable): nothing to close.
      }
    },
  };
}
