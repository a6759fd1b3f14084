// The node agent's public surface: the pure peering, announcement and route
// rules (for tools and tests), and the composed agent.
export * from './peers.js';
export * from './announce.js';
export * from './routes.js';
export { LearnedRoutes } from './learned.js';
export * from './status.js';
export { parseAgentArgs, agentCommand, type AgentConfig, type GobgpMode, type LogFormat } from './config.js';
export { NodeAgent, type NodeAgentOptions } from './node-agent.js';
export { Reconciler, type ReconcilerOptions, type KernelRouteSink } from './agent.js';
export type { ClusterState } from './sources.js';
// What every agent does against etcd, for the scale bench's simulated nodes.
export { registerNode, type NodeRegistration } from './registration.js';
export { Liveness, type LivenessOptions } from './liveness.js';
export { openClusterState, type ClosableClusterState } from './watch.js';
export { QueryResponder, type QueryResponderOptions } from './query-answer.js';
