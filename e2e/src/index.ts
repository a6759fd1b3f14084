export * from './plan.js';
export * from './proc.js';
export * from './cni.js';
export * from './manifests.js';
export * from './routes.js';
export * from './lab.js';
export * from './stats.js';
export * from './podman.js';
