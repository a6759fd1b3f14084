/**
 * Where `diags` writes its tarball. The path is checked before anything is
 * collected (a bad -f is the operator's mistake, not a failure after a
 * minute of work), and the file is written whole and private: a temporary
 * file created 0600 next to it, then renamed over it, so an existing file's
 * looser mode does not carry over and nobody sees half a tarball.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TerraceError } from '@terrace/api';

const reason = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** An Invalid TerraceError naming the path when the tarball cannot be written there. */
export function checkOutFile(file: string): void {
  const dir = dirname(file);
  try {
    if (!statSync(dir).isDirectory()) throw new TerraceError('Invalid', `diags: cannot write ${file}: ${dir} is not a directory`);
    accessSync(dir, constants.W_OK);
  } catch (e) {
    if (e instanceof TerraceError) throw e;
    throw new TerraceError('Invalid', `diags: cannot write ${file}: directory ${dir}: ${reason(e)}`);
  }
  let isDir = false;
  try {
    isDir = statSync(file).isDirectory();
  } catch {
    // Not there yet: fine.
  }
  if (isDir) throw new TerraceError('Invalid', `diags: cannot write ${file}: it is a directory`);
}

/** Writes `data` to `file`, mode 0600, via a temporary file and a rename. */
export function writeOutFile(file: string, data: Uint8Array): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new TerraceError('Invalid', `diags: cannot write ${file}: ${reason(e)}`);
  }
}
