export * from './constants.js';
export * from './route.js';
export { canonMatches, canonOf, defaultMetric, identityKey, type HopText, type RouteCanon } from './canon.js';
export * from './diff.js';
export { parseRouteDump } from './dump.js';
export * from './kernel.js';
export * from './batch.js';
export * from './sync.js';
export * from './links.js';
