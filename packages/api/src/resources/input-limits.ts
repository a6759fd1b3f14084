/**
 * Limits on a manifest's size and nesting, checked before the YAML library
 * builds anything. The library composes documents recursively: a few
 * thousand nested brackets take it half a second to give up with "Maximum
 * call stack size exceeded", and deeper input has aborted the whole process.
 * Real manifests are a few kilobytes and a handful of levels deep.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { TerraceError } from '../errors.js';

/** The largest manifest (one file, or standard input) decoded: a List of several thousand resources fits. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;

/** The deepest nesting of mappings and lists a manifest may have; a Terrace resource needs fewer than ten. */
export const MAX_MANIFEST_DEPTH = 64;

const requireHere = createRequire(import.meta.url);
let lexerClass: typeof Yaml.Lexer | undefined;
const Lexer = (): typeof Yaml.Lexer => (lexerClass ??= (requireHere('yaml') as typeof Yaml).Lexer);

/** The lexer's mark before a scalar's text (yaml's CST.SCALAR). */
const SCALAR = '\x1f';
const OPEN = new Set(['{', '[']);
const CLOSE = new Set(['}', ']']);
/** Block indicators: each one on a line opens one more level (`- - x`, `a: {b: 1}`). */
const BLOCK = new Set(['-', '?', ':']);

/**
 * An upper bound of how deep `text` nests, from the YAML lexer's tokens
 * alone (the lexer is a loop, not a recursion): open flow brackets, plus
 * the block indentation levels in force, plus the block indicators on the
 * current line. It over-counts a little (a folded scalar's continuation
 * lines, a key's colon) and never under-counts by more than a factor of two.
 * Stops counting once `limit` is passed.
 */
export function manifestDepth(text: string, limit = MAX_MANIFEST_DEPTH): number {
  let max = 0;
  let flow = 0;
  const indents: number[] = [];
  let onLine = 0;
  let lineStart = true;
  let afterScalarMark = false;
  const lexer = new (Lexer())();
  for (const tok of lexer.lex(text)) {
    if (afterScalarMark) {
      // A scalar's text, never an indicator; a block scalar's text ends its last line.
      afterScalarMark = false;
      lineStart = tok.endsWith('\n');
      if (lineStart) onLine = 0;
      continue;
    }
    if (tok === SCALAR) {
      afterScalarMark = true;
      if (lineStart) popTo(indents, 0);
      lineStart = false;
      continue;
    }
    if (tok === '\n') {
      lineStart = true;
      onLine = 0;
      continue;
    }
    if (lineStart && flow === 0) {
      const indent = /^ +$/.test(tok) ? tok.length : 0;
      popTo(indents, indent);
      if (indent > 0) indents.push(indent);
    }
    lineStart = false;
    if (OPEN.has(tok)) flow++;
    else if (CLOSE.has(tok)) flow = Math.max(0, flow - 1);
    else if (flow === 0 && BLOCK.has(tok)) onLine++;
    max = Math.max(max, flow + indents.length + onLine);
    if (max > limit) return max;
  }
  return max;
}

/** Drops the indentation levels at or beyond `indent`: a line there closes them. */
function popTo(indents: number[], indent: number): void {
  while (indents.length > 0 && (indents[indents.length - 1] ?? 0) >= indent) indents.pop();
}

/** Refuses a manifest that is too large or too deeply nested, before it is parsed. */
export function checkManifestLimits(text: string, where: string): void {
  // A string's length counts UTF-16 units; bytes are what the limit promises.
  const bytes = text.length > MAX_MANIFEST_BYTES / 3 ? Buffer.byteLength(text) : text.length;
  if (bytes > MAX_MANIFEST_BYTES) {
    throw new TerraceError('Invalid', `${where}: ${bytes} bytes is more than the ${MAX_MANIFEST_BYTES} a manifest may have; split it into several files`);
  }
  const depth = manifestDepth(text);
  if (depth > MAX_MANIFEST_DEPTH) {
    throw new TerraceError('Invalid', `${where}: nests deeper than ${MAX_MANIFEST_DEPTH} levels; no Terrace resource needs that many`);
  }
}
