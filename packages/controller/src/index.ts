export * from './gc.js';
export * from './config.js';
export * from './leader.js';
export * from './world.js';
export * from './apply.js';
export * from './pools.js';
export * from './status.js';
export * from './controller.js';
