export * from './speaker.js';
export * from './learned.js';
export * from './broadcast.js';
export * from './gobgp/index.js';
