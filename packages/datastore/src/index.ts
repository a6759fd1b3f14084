export * from './keys.js';
export * from './store.js';
export * from './config.js';
export * from './client.js';
export * from './txn.js';
export * from './resources.js';
export * from './watchcache.js';
export * from './http-kv.js';
export { decodeStoredResource } from './resource-json.js';
