import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { prefixRangeEnd } from '../src/http-kv.js';

describe('prefixRangeEnd', () => {
  it.each<[string, number[]]>([
    ['/terrace/v1/c/resources/ippools/', [...Buffer.from('/terrace/v1/c/resources/ippools0')]],
    ['a', [0x62]],
  ])('ends the range of %j after its last key', (prefix, end) => {
    expect([...prefixRangeEnd(prefix)]).toEqual(end);
  });

  it('bumps the last byte below 0xff, dropping what follows; all 0xff runs to the end of the keyspace', () => {
    expect([...prefixRangeEnd('caf\u00e9')]).toEqual([0x63, 0x61, 0x66, 0xc3, 0xaa]);
    expect([...prefixRangeEnd(Buffer.from([0x61, 0xff, 0xff]))]).toEqual([0x62]);
    expect([...prefixRangeEnd(Buffer.from([0xff, 0xff]))]).toEqual([0x00]);
  });
});

describe('module graph', () => {
  it('the http-kv and config entry points load neither etcd3, grpc nor yaml', () => {
    // A fresh process, so that what this test process loaded does not count.
    const script = `
      import { createRequire } from 'node:module';
      await import('@terrace/datastore/http-kv');
      await import('@terrace/datastore/config');
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify(loaded.filter((f) => /node_modules\\/(etcd3|@grpc|protobufjs|yaml)\\//.test(f))));
    `;
    const cwd = fileURLToPath(new URL('../..', import.meta.url));
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([]);
  });
});
