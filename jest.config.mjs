// Tests are TypeScript compiled by `tsc -b` into each package's dist/test.
// Naming: *.test.js unit, *.int.test.js needs etcd or daemons, *.e2e.test.js the namespace lab.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/dist/test/**/*.test.js'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/scripts/jest-global-setup.mjs',
  globalTeardown: '<rootDir>/scripts/jest-global-teardown.mjs',
  transform: {},
  testTimeout: 60000,
  maxWorkers: 2,
};
