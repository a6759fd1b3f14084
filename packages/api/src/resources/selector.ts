/**
 * Calico's label selector language, parsed once into a small tree that can
 * match a label set and print itself in a canonical form.
 *
 *   all()  has(k)  !has(k)  k == 'v'  k != 'v'  k in {'a','b'}  k not in {...}
 *   a && b   a || b   !a   (a)
 *
 * `&&` binds tighter than `||`, `!` tighter than both. Semantics follow
 * Calico: `k != 'v'` and `k not in {...}` are true when `k` is absent.
 * Syntax errors carry the 1-based column of the offending token; a missing
 * token at the end of the input is reported at the last character's column.
 */
import { invalidField, quote, TerraceError } from '../errors.js';

export interface Selector {
  matches(labels: Record<string, string>): boolean;
  /** Canonical form: double quotes, single spaces, parentheses only where needed. */
  toString(): string;
}

type Node =
  | { op: 'all' }
  | { op: 'has'; key: string }
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'not'; arg: Node }
  | { op: 'and' | 'or'; args: Node[] };

type TokenKind = 'ident' | 'string' | '(' | ')' | '{' | '}' | ',' | '==' | '!=' | '!' | '&&' | '||' | 'eof';

interface Token {
  kind: TokenKind;
  text: string;
  /** 1-based column. */
  col: number;
}

/** Label keys: an optional DNS prefix and a name (`example.com/role`); checked loosely, as Calico does. */
const IDENT_CHAR = /[A-Za-z0-9_.\/-]/;

/** The deepest nesting of `!` and parentheses a selector may have; real ones use two or three. */
export const MAX_SELECTOR_DEPTH = 100;

class SelectorSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly col: number,
  ) {
    super(reason);
  }
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] ?? '';
    const col = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '==' || two === '!=' || two === '&&' || two === '||') {
      out.push({ kind: two, text: two, col });
      i += 2;
      continue;
    }
    if ('(){},!'.includes(c)) {
      out.push({ kind: c as TokenKind, text: c, col });
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new SelectorSyntaxError(`unterminated string starting`, col);
      out.push({ kind: 'string', text: text.slice(i + 1, end), col });
      i = end + 1;
      continue;
    }
    if (IDENT_CHAR.test(c)) {
      let j = i;
      while (j < n && IDENT_CHAR.test(text[j] ?? '')) j++;
      out.push({ kind: 'ident', text: text.slice(i, j), col });
      i = j;
      continue;
    }
    throw new SelectorSyntaxError(`unexpected character ${quote(c)}`, col);
  }
  const trimmedEnd = text.trimEnd().length;
  out.push({ kind: 'eof', text: '', col: Math.max(1, trimmedEnd) });
  return out;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    const t = this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)];
    if (!t) throw new SelectorSyntaxError('empty token stream', 1);
    return t;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private fail(expected: string, t: Token = this.peek()): never {
    const found = t.kind === 'eof' ? ' (end of input)' : ` (found ${quote(t.kind === 'string' ? `'${t.text}'` : t.text)})`;
    throw new SelectorSyntaxError(`expected ${expected} at column ${t.col}${found}`, t.col);
  }

  private expect(kind: TokenKind, what: string): Token {
    const t = this.peek();
    if (t.kind !== kind) this.fail(what);
    return this.next();
  }

  parseAll(): Node {
    const node = this.parseOr();
    const t = this.peek();
    if (t.kind !== 'eof') this.fail("'&&', '||' or the end of the selector");
    return node;
  }

  private parseOr(): Node {
    const args = [this.parseAnd()];
    while (this.peek().kind === '||') {
      this.next();
      args.push(this.parseAnd());
    }
    return args.length === 1 ? (args[0] as Node) : { op: 'or', args };
  }

  private parseAnd(): Node {
    const args = [this.parseUnary()];
    while (this.peek().kind === '&&') {
      this.next();
      args.push(this.parseUnary());
    }
    return args.length === 1 ? (args[0] as Node) : { op: 'and', args };
  }

  /** How many `!` and `(` enclose the expression being parsed. */
  private depth = 0;

  private parseUnary(): Node {
    // Parsing, matching and printing all recurse once per level: bound it
    // here, so that no selector can exhaust the stack.
    if (++this.depth > MAX_SELECTOR_DEPTH) {
      const t = this.peek();
      throw new SelectorSyntaxError(`nests deeper than ${MAX_SELECTOR_DEPTH} levels of '!' and '(' at column ${t.col}`, t.col);
    }
    try {
      if (this.peek().kind === '!') {
        this.next();
        return { op: 'not', arg: this.parseUnary() };
      }
      return this.parsePrimary();
    } finally {
      this.depth--;
    }
  }

  private parsePrimary(): Node {
    const t = this.peek();
    if (t.kind === '(') {
      this.next();
      const inner = this.parseOr();
      this.expect(')', "')'");
      return inner;
    }
    if (t.kind !== 'ident') this.fail('an expression');
    // `all(` and `has(` are functions; otherwise the identifier is a label key.
    if (this.peek(1).kind === '(' && (t.text === 'all' || t.text === 'has')) {
      this.next();
      this.next();
      if (t.text === 'all') {
        this.expect(')', "')' after 'all('");
        return { op: 'all' };
      }
      const key = this.expect('ident', 'a label key').text;
      this.expect(')', "')'");
      return { op: 'has', key };
    }
    const key = this.next().text;
    const op = this.peek();
    if (op.kind === '==' || op.kind === '!=') {
      this.next();
      const value = this.expect('string', 'a quoted value').text;
      return { op: op.kind === '==' ? 'eq' : 'ne', key, value };
    }
    if (op.kind === 'ident' && op.text === 'in') {
      this.next();
      return { op: 'in', key, values: this.parseSet() };
    }
    if (op.kind === 'ident' && op.text === 'not' && this.peek(1).kind === 'ident' && this.peek(1).text === 'in') {
      this.next();
      this.next();
      return { op: 'notin', key, values: this.parseSet() };
    }
    return this.fail(`'==', '!=', 'in' or 'not in' after label key ${quote(key)}`);
  }

  private parseSet(): string[] {
    this.expect('{', "'{'");
    const values: string[] = [];
    if (this.peek().kind === '}') {
      this.next();
      return values;
    }
    for (;;) {
      values.push(this.expect('string', 'a quoted value').text);
      const t = this.peek();
      if (t.kind === '}') {
        this.next();
        return values;
      }
      if (t.kind !== ',') this.fail("',' or '}'");
      this.next();
    }
  }
}

function quoteLiteral(v: string): string {
  // Selector strings have no escapes; pick the quote the value does not contain.
  return v.includes('"') ? `'${v}'` : `"${v}"`;
}

function evaluate(n: Node, labels: Record<string, string>): boolean {
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(labels, k);
  switch (n.op) {
    case 'all':
      return true;
    case 'has':
      return has(n.key);
    case 'eq':
      return has(n.key) && labels[n.key] === n.value;
    case 'ne':
      return !has(n.key) || labels[n.key] !== n.value;
    case 'in':
      return has(n.key) && n.values.includes(labels[n.key] ?? '');
    case 'notin':
      return !has(n.key) || !n.values.includes(labels[n.key] ?? '');
    case 'not':
      return !evaluate(n.arg, labels);
    case 'and':
      return n.args.every((a) => evaluate(a, labels));
    case 'or':
      return n.args.some((a) => evaluate(a, labels));
  }
}

/** Binding strength, used to print parentheses only where the tree needs them. */
function strength(n: Node): number {
  return n.op === 'or' ? 1 : n.op === 'and' ? 2 : 3;
}

function print(n: Node): string {
  const sub = (child: Node, min: number): string => (strength(child) < min ? `(${print(child)})` : print(child));
  switch (n.op) {
    case 'all':
      return 'all()';
    case 'has':
      return `has(${n.key})`;
    case 'eq':
      return `${n.key} == ${quoteLiteral(n.value)}`;
    case 'ne':
      return `${n.key} != ${quoteLiteral(n.value)}`;
    case 'in':
      return `${n.key} in {${n.values.map(quoteLiteral).join(', ')}}`;
    case 'notin':
      return `${n.key} not in {${n.values.map(quoteLiteral).join(', ')}}`;
    case 'not':
      return `!${sub(n.arg, 3)}`;
    case 'and':
      return n.args.map((a) => sub(a, 2)).join(' && ');
    case 'or':
      return n.args.map((a) => sub(a, 1)).join(' || ');
  }
}

class ParsedSelector implements Selector {
  constructor(private readonly root: Node) {}
  matches(labels: Record<string, string>): boolean {
    return evaluate(this.root, labels);
  }
  toString(): string {
    return print(this.root);
  }
}

/** Parses a selector; an empty (or blank) string means all(). */
export function parseSelector(text: string): Selector {
  if (text.trim() === '') return new ParsedSelector({ op: 'all' });
  try {
    return new ParsedSelector(new Parser(tokenize(text)).parseAll());
  } catch (e) {
    if (e instanceof SelectorSyntaxError) {
      const reason = e.reason.includes(' at column ') ? e.reason : `${e.reason} at column ${e.col}`;
      throw new TerraceError('Invalid', `selector ${quote(text)}: ${reason}`);
    }
    throw e;
  }
}

/**
 * Parses the selector in `field` of resource `ref`, so that a syntax error
 * names both: `ippool/p: spec.nodeSelector selector "...": expected ...`.
 */
export function validateSelectorField(ref: string | undefined, field: string, text: string): Selector {
  try {
    return parseSelector(text);
  } catch (e) {
    if (e instanceof TerraceError) throw invalidField(ref, field, e.message);
    throw e;
  }
}
