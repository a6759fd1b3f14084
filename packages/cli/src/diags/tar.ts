/**
 * A gzip-compressed tar archive of in-memory files, written without a
 * dependency: POSIX ustar headers (512-byte blocks, octal fields, a checksum
 * over the header) and zlib's gzip. Enough for a diagnostics bundle any `tar`
 * reads. A name longer than ustar's 100 bytes travels in a PAX extended
 * header (`path=`) before its member, as GNU and BSD tar read it.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface TarMember {
  /** Path inside the archive, `/`-separated, relative, no `.` or `..` segment (safeSegment). */
  name: string;
  content: string | Buffer;
}

const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/**
 * One path segment made from a name read from etcd (a node, a remote
 * cluster): a `/` or a control character would change where the member
 * lands, and `.`/`..` would climb out of its directory, so they are
 * percent-escaped. A name too long for a file name (a node's may be 253
 * characters, and a suffix follows) is shortened, with a hash of the whole
 * to keep it unique.
 */
export function safeSegment(s: string): string {
  const safe = escapeSegment(s);
  if (Buffer.byteLength(safe) <= MAX_SEGMENT) return safe;
  return `${clip(safe, MAX_SEGMENT - 13)}~${createHash('sha256').update(s).digest('hex').slice(0, 12)}`;
}

/** Leaves room for a suffix (`.status.json`) within Linux's 255-byte file names. */
const MAX_SEGMENT = 200;

function escapeSegment(s: string): string {
  const escaped = s.replace(/[\u0000-\u001f\u007f%/\\]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
  return escaped === '' || /^\.+$/.test(escaped) ? escaped.replace(/\./g, '%2E') || '%00' : escaped;
}

function checkName(name: string): void {
  if (name.startsWith('/') || name.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    throw new Error(`tar: member name must be relative with no empty, . or .. segment: ${JSON.stringify(name)}`);
  }
}

/** A PAX record: `<length> key=value\n`, the length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let n = Buffer.byteLength(body);
  while (String(n).length + Buffer.byteLength(body) !== n) n = String(n).length + Buffer.byteLength(body);
  return `${n}${body}`;
}

/** The first bytes of `name` that fit in `max` bytes, not splitting a UTF-8 character. */
function clip(name: string, max: number): string {
  let out = '';
  for (const ch of name) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
}

function header(name: string, size: number, mtime: number, type = '0'): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(clip(name, 100), 0, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.fill(' ', 148, 156); // the checksum is computed with its own field as spaces
  h.write(type, 156, 'ascii'); // '0' a regular file, 'x' PAX attributes of the next member
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
  const add = (name: string, body: Buffer, type?: string): void => {
    parts.push(header(name, body.length, mtime, type), body);
    const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  };
  for (const m of members) {
    checkName(m.name);
    if (Buffer.byteLength(m.name) > 100) add(`PaxHeaders/${clip(m.name.split('/').pop() ?? '', 80)}`, Buffer.from(paxRecord('path', m.name), 'utf8'), 'x');
    add(m.name, typeof m.content === 'string' ? Buffer.from(m.content, 'utf8') : m.content);
  }
  parts.push(Buffer.alloc(BLOCK * 2)); // two zero blocks end the archive
  return gzipSync(Buffer.concat(parts));
}
