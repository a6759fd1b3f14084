/**
 * Forwards one CNI request to the agent and turns the answer, or the lack
 * of one, into what the plugin prints. Loaded only for commands that need
 * the agent, so VERSION never pays for HTTP/2.
 */
import type { TerraceNetConf } from '../config.js';
import type { CniEnv } from '../env.js';
import { CniCode, CniError } from '../spec.js';
import { DeadlineError, GRPC_UNAVAILABLE, GrpcStatusError, UnreachableError, unaryCall } from './grpc.js';
import { decodeCniResponse, encodeCniRequest, encodeGcRequest, encodeStatusRequest } from './wire.js';

const SERVICE = '/terrace.agent.v1.CniService/';

function encode(env: CniEnv, conf: TerraceNetConf, stdin: Uint8Array): { method: string; body: Uint8Array } {
  switch (env.command) {
    case 'GC':
      return { method: 'Gc', body: encodeGcRequest({ config: stdin, validAttachments: conf.validAttachments }) };
    case 'STATUS':
      return { method: 'Status', body: encodeStatusRequest({ config: stdin }) };
    case 'ADD':
    case 'DEL':
    case 'CHECK':
      return {
        method: env.command === 'ADD' ? 'Add' : env.command === 'DEL' ? 'Del' : 'Check',
        body: encodeCniRequest({
          command: env.command,
          containerId: env.containerId,
          netns: env.netns,
          ifname: env.ifname,
          args: env.args.map(([key, value]) => ({ key, value })),
          cniPath: env.path,
          config: stdin,
          prevResult: conf.prevResult === undefined ? '' : JSON.stringify(conf.prevResult),
        }),
      };
    case 'VERSION':
      throw new CniError(CniCode.Internal, 'VERSION is answered by the plugin itself');
  }
}

/** Maps a failed call to the code a runtime acts on: 11 retries, 50 means "not ready". */
function callFailure(env: CniEnv, e: unknown): CniError {
  const notReady = env.command === 'STATUS';
  if (e instanceof UnreachableError) {
    if (e.errno === 'EACCES' || e.errno === 'EPERM') {
      return new CniError(CniCode.IoFailure, e.message, 'the agent socket is root-only; run the plugin as root');
    }
    return new CniError(notReady ? CniCode.NotAvailable : CniCode.TryAgainLater, e.message, 'is terrace-agent running on this node?');
  }
  if (e instanceof DeadlineError) return new CniError(notReady ? CniCode.NotAvailable : CniCode.TryAgainLater, e.message);
  if (e instanceof GrpcStatusError) {
    if (e.status === GRPC_UNAVAILABLE) return new CniError(notReady ? CniCode.NotAvailable : CniCode.TryAgainLater, `terrace agent unavailable: ${e.message}`);
    return new CniError(CniCode.Protocol, `terrace agent call failed (gRPC status ${e.status}): ${e.message}`);
  }
  return new CniError(CniCode.Internal, `terrace agent call failed: ${(e as Error).message}`);
}

/** Returns what to print on success: the result JSON for ADD, nothing otherwise. */
export async function callAgent(env: CniEnv, conf: TerraceNetConf, stdin: Uint8Array): Promise<string> {
  const { method, body } = encode(env, conf, stdin);
  let answer: Uint8Array;
  try {
    answer = await unaryCall(conf.agentSocket, SERVICE + method, body, conf.timeoutSeconds * 1000);
  } catch (e) {
    throw callFailure(env, e);
  }
  let res;
  try {
    res = decodeCniResponse(answer);
  } catch (e) {
    throw new CniError(CniCode.Protocol, `terrace agent sent an undecodable answer: ${(e as Error).message}`);
  }
  if (res.case === 'error') throw new CniError(res.value.code || CniCode.Internal, res.value.msg, res.value.details);
  if (res.case === 'resultJson') return res.value;
  throw new CniError(CniCode.Protocol, 'terrace agent sent an empty answer');
}
