/**
 * @terrace/cni: the CNI plugin (bin/terrace-cni, a shell script that
 * forwards to the agent) and what the agent's CNI server needs to speak for
 * it: the spec's codes, the environment and configuration rules, the result
 * JSON and the plugin–agent protocol.
 */
export * from './spec.js';
export * from './env.js';
export * from './config.js';
export * from './result.js';
export * from './protocol.js';
export * from './request-id.js';
