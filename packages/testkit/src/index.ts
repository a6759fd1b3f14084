export * from './etcd.js';
export * from './daemons.js';
export * from './netns.js';
export * from './frr.js';
export * from './cni.js';
export * from './pki.js';
export * from './fuzz.js';
export * from './restartable-etcd.js';
