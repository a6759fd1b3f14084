import { describe, expect, test } from '@jest/globals';
import { Writable } from 'node:stream';
import { createContext } from '../src/cli-context.js';

function capture() {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { out, text: () => text };
}

describe('CliContext output helpers', () => {
  test('print ends lines, table aligns, serialize writes YAML or JSON', () => {
    const c = capture();
    const ctx = createContext(() => ({}), c.out);
    ctx.print('one');
    ctx.print('two\n');
    ctx.table(['NAME', 'CIDR'], [['a', '198.19.0.0/16']]);
    ctx.serialize({ a: [1, 'x'] }, 'yaml');
    ctx.serialize({ a: 1 }, 'json');
    expect(c.text()).toBe('one\ntwo\nNAME   CIDR\na      198.19.0.0/16\na:\n  - 1\n  - x\n{\n  "a": 1\n}\n');
  });

  test('globals are read when asked, and close without a datastore is a no-op', async () => {
    let cluster = 'first';
    const ctx = createContext(() => ({ cluster }));
    cluster = 'second';
    expect(ctx.globals().cluster).toBe('second');
    await expect(ctx.close()).resolves.toBeUndefined();
    await expect(ctx.openedEndpoints()).resolves.toEqual([]);
  });
});
