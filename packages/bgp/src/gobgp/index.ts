export * from './client.js';
export * from './convert.js';
export * from './daemon.js';
export * from './speaker.js';
export * from './export-policy.js';
export * from './rib-check.js';
