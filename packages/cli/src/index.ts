// The CLI's reusable parts; the executable entry point is main.ts.
export type { CliContext, Datastore, GlobalOptions, OutputFormat } from './context.js';
export { createContext, type CliContextImpl } from './cli-context.js';
export { buildProgram } from './program.js';
export { formatTable } from './output/table.js';
export { formatAge } from './output/age.js';
export { tableFor, type TableView } from './output/columns.js';
export { makeProgress } from './output/progress.js';
export { mergePatch } from './mergepatch.js';
export { checkSet } from './actions/manifests.js';
