/**
 * A gzip-compressed tar archive of in-memory files, written without a
 * dependency: POSIX ustar headers (512-byte blocks, octal fields, a checksum
 * over the header) and zlib's gzip. Enough for a diagnostics bundle any `tar`
 * reads; names are kept under ustar's 100 bytes by the caller.
 */
import { gzipSync } from 'node:zlib';

export interface TarMember {
  /** Path inside the archive, `/`-separated, relative, under 100 bytes. */
  name: string;
  content: string | Buffer;
}

const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: member name longer than 100 bytes: ${name}`);
  h.write(name, 0, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.fill(' ', 148, 156); // the checksum is computed with its own field as spaces
  h.write('0', 156, 'ascii'); // a regular file
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The archive's bytes (.tar.gz). `mtime` in seconds since the epoch, for every member. */
export function tarGz(members: readonly TarMember[], mtime = Math.floor(Date.now() / 1000)): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const body = typeof m.content === 'string' ? Buffer.from(m.content, 'utf8') : m.content;
    parts.push(header(m.name, body.length, mtime), body);
    const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2)); // two zero blocks end the archive
  return gzipSync(Buffer.concat(parts));
}
