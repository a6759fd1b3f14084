export * from './errors.js';
export * from './net/ip.js';
export * from './resources/types.js';
export * from './resources/rules.js';
