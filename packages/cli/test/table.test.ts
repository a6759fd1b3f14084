/**
 * Golden files for `terracectl get` tables: the exact text operators see.
 * Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
 */
import { describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Kind, Resource } from '@terrace/api';
import { tableFor, type TableView } from '../src/output/columns.js';
import { formatTable } from '../src/output/table.js';
import { formatAge } from '../src/output/age.js';
import { NOW, bgpConfigs, bgpFilters, ipamConfigs, nodes, peers, pools } from './fixtures.js';

const goldenDir = new URL('../../test/golden/', import.meta.url);

function golden(name: string, actual: string): void {
  const file = new URL(`${name}.txt`, goldenDir);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`golden file ${file.pathname} missing; run with UPDATE_GOLDEN=1`);
    writeFileSync(file, actual);
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const cases: [string, Kind, Resource[]][] = [
  ['ippools', 'IPPool', pools],
  ['bgppeers', 'BGPPeer', peers],
  ['bgpconfigurations', 'BGPConfiguration', bgpConfigs],
  ['bgpfilters', 'BGPFilter', bgpFilters],
  ['nodes', 'Node', nodes],
  ['ipamconfigs', 'IPAMConfig', ipamConfigs],
];

describe('get tables (golden)', () => {
  for (const [name, kind, items] of cases) {
    for (const view of ['table', 'wide'] as TableView[]) {
      test(`${name} ${view}`, () => {
        const { header, rows } = tableFor(kind, items, view, NOW);
        golden(`${name}-${view}`, formatTable(header, rows));
      });
    }
  }
});

describe('formatTable', () => {
  test('pads every column to its widest cell and trims line ends', () => {
    expect(formatTable(['A', 'LONGER'], [['wide-cell', 'x'], ['y', '']])).toBe('A           LONGER\nwide-cell   x\ny\n');
  });
  test('a header alone is one line', () => {
    expect(formatTable(['NAME', 'CIDR'], [])).toBe('NAME   CIDR\n');
  });
});

describe('formatAge', () => {
  const at = (iso: string) => formatAge(iso, NOW);
  test.each([
    ['2025-01-10T12:00:00Z', '0s'],
    ['2025-01-10T11:58:01Z', '119s'],
    ['2025-01-10T11:58:00Z', '2m'],
    ['2025-01-10T10:00:01Z', '119m'],
    ['2025-01-10T10:00:00Z', '2h'],
    ['2025-01-08T12:00:01Z', '47h'],
    ['2025-01-08T12:00:00Z', '2d'],
    ['2025-01-10T12:00:30Z', '0s'], // clock skew: never negative
  ])('%s → %s', (iso, want) => expect(at(iso)).toBe(want));
  test('missing or garbage timestamps', () => {
    expect(formatAge(undefined, NOW)).toBe('<unknown>');
    expect(formatAge('yesterday', NOW)).toBe('<unknown>');
  });
});
