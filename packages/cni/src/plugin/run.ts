/**
 * The plugin's whole behaviour as a function of its environment and stdin,
 * so that it can be tested without spawning a process. VERSION and every
 * input error are answered here without contacting the agent.
 */
import { decodeConfig, parseConfig, replyVersion } from '../config.js';
import { parseEnv } from '../env.js';
import { CniCode, CniError, SUPPORTED_VERSIONS, errorJson } from '../spec.js';

export interface PluginOutcome {
  stdout: string;
  exitCode: number;
}

export async function runPlugin(env: Readonly<Record<string, string | undefined>>, stdin: Uint8Array): Promise<PluginOutcome> {
  let version: string = replyVersion(stdin);
  try {
    const cniEnv = parseEnv(env);
    if (cniEnv.command === 'VERSION') {
      return { stdout: JSON.stringify({ cniVersion: version, supportedVersions: SUPPORTED_VERSIONS }), exitCode: 0 };
    }
    const conf = parseConfig(decodeConfig(stdin), cniEnv.command);
    version = conf.cniVersion;
    const { callAgent } = await import('./call.js');
    return { stdout: await callAgent(cniEnv, conf, stdin), exitCode: 0 };
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(CniCode.Internal, `terrace-cni: ${(e as Error).message}`);
    return { stdout: errorJson(version, err), exitCode: 1 };
  }
}
