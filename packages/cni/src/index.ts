/**
 * @terrace/cni: the CNI plugin and the definitions the agent's CNI server
 * shares with it (the spec's codes, configuration parsing, result JSON and
 * the generated gRPC service).
 */
export * from './spec.js';
export * from './env.js';
export * from './config.js';
export * from './result.js';
/** The generated messages and service (protobuf-es), e.g. pb.CniService, pb.CniRequestSchema. */
export * as pb from './gen/terrace/agent/v1/cni_pb.js';
