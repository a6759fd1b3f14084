import { describe, expect, test } from '@jest/globals';
import { applyLabelChanges, parseLabelChange } from '../src/labels.js';

describe('label arguments', () => {
  test.each([
    ['rack=a', { op: 'set', key: 'rack', value: 'a' }],
    ['terrace.dev/zone=east-1', { op: 'set', key: 'terrace.dev/zone', value: 'east-1' }],
    ['empty=', { op: 'set', key: 'empty', value: '' }],
    ['rack-', { op: 'remove', key: 'rack' }],
    ['terrace.dev/zone-', { op: 'remove', key: 'terrace.dev/zone' }],
  ])('%s', (arg, want) => expect(parseLabelChange(arg)).toEqual(want));

  test.each([
    ['rack', 'expected key=value'],
    ['-', 'expected key=value'],
    ['=a', 'key must have a name part of 1–63 characters'],
    ['bad key=a', 'key must have a name part of letters'],
    ['Upper_/x=a', 'key has prefix "Upper_" that must be a DNS-1123 subdomain'],
    ['rack=a b', 'value must be letters'],
    [`rack=${'v'.repeat(64)}`, 'value is 64 characters long'],
    [`${'k'.repeat(64)}=v`, 'key must have a name part of 1–63 characters'],
  ])('refuses %s', (arg, msg) => {
    expect(() => parseLabelChange(arg)).toThrow(msg);
  });
});

describe('applyLabelChanges', () => {
  const ref = 'ippool/p';
  test('sets, removes, and keeps the rest', () => {
    expect(applyLabelChanges(ref, { a: '1', b: '2' }, [parseLabelChange('c=3'), parseLabelChange('a-')], false)).toEqual({ b: '2', c: '3' });
  });
  test('changing a value needs overwrite, like kubectl', () => {
    expect(() => applyLabelChanges(ref, { a: '1' }, [parseLabelChange('a=2')], false)).toThrow('ippool/p: label "a" already has the value "1"; use --overwrite');
    expect(applyLabelChanges(ref, { a: '1' }, [parseLabelChange('a=2')], true)).toEqual({ a: '2' });
    expect(applyLabelChanges(ref, { a: '1' }, [parseLabelChange('a=1')], false)).toEqual({ a: '1' });
  });
  test('removing an absent label is an error', () => {
    expect(() => applyLabelChanges(ref, {}, [parseLabelChange('zz-')], false)).toThrow('ippool/p: label "zz" not found');
  });
});
