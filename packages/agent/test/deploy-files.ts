/**
 * Reading the deployment files under deploy/ the way their consumers do:
 * systemd's ExecStart= (specifiers, $VAR and ${VAR} from the unit's
 * EnvironmentFile), Kubernetes containers' command and args (with $(VAR)
 * from the container's env). Each gives the argv a daemon would see, so the
 * test can hand it to the daemon's real flag parser.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** deploy/ of the repository, from packages/agent/dist/test. */
export const DEPLOY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'deploy');

/** Every file under `dir` whose name passes `keep`, sorted. */
export function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, keep));
    else if (keep(name)) out.push(p);
  }
  return out.sort();
}

/** One program invocation found in a deployment file. */
export interface Invocation {
  /** Where it was found, for failure messages. */
  where: string;
  /** The program's base name (`terrace-agent`, `gobgpd`, ...). */
  program: string;
  args: string[];
}

// Values for systemd specifiers; a specifier not listed here fails the test,
// so a new one is looked at rather than passed through.
const SPECIFIERS: Record<string, string> = {
  H: 'node-1.example.net',
  l: 'node-1',
  d: '/run/credentials/unit.service',
  '%': '%',
};

/** Splits a systemd command line into words (double and single quotes group). */
function systemdWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

/** `KEY="value"` lines of an EnvironmentFile. */
export function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m?.[1]) throw new Error(`${path}: cannot read line "${line}"`);
    const v = m[2] ?? '';
    env[m[1]] = /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v;
  }
  return env;
}

function expandSpecifiers(word: string, where: string): string {
  return word.replace(/%(.)/g, (_m, c: string) => {
    const v = SPECIFIERS[c];
    if (v === undefined) throw new Error(`${where}: systemd specifier %${c} is not known to this test`);
    return v;
  });
}

/**
 * The ExecStart= lines of a unit as argv lists. Environment comes from the
 * unit's EnvironmentFile=, read from the example shipped beside the unit
 * (`/etc/default/NAME` → `NAME.default`).
 */
export function systemdInvocations(unitPath: string): Invocation[] {
  const text = readFileSync(unitPath, 'utf8').replace(/\\\n/g, ' ');
  const env: Record<string, string> = {};
  const execs: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'EnvironmentFile') {
      const example = join(dirname(unitPath), `${basename(value.replace(/^-/, ''))}.default`);
      if (!existsSync(example)) throw new Error(`${unitPath}: no example ${example} for EnvironmentFile=${value}`);
      Object.assign(env, readEnvFile(example));
    } else if (key === 'ExecStart') {
      execs.push(value);
    }
  }
  const where = basename(unitPath);
  return execs.map((line) => {
    const words: string[] = [];
    for (const w of systemdWords(line.replace(/^[-@:+!]+/, ''))) {
      // `$VAR` alone becomes several words; `${VAR}` stays within its word.
      const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
      if (whole?.[1]) {
        const v = env[whole[1]];
        if (v === undefined) throw new Error(`${where}: $${whole[1]} is not set by its EnvironmentFile example`);
        words.push(...systemdWords(v));
        continue;
      }
      const braced = w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, k: string) => {
        const v = env[k];
        if (v === undefined) throw new Error(`${where}: \${${k}} is not set by its EnvironmentFile example`);
        return v;
      });
      words.push(expandSpecifiers(braced, where));
    }
    const [program = '', ...args] = words;
    return { where, program: basename(program), args };
  });
}

// Sample values of the downward API fields the manifests use.
const FIELD_VALUES: Record<string, string> = {
  'spec.nodeName': 'node-1',
  'status.hostIP': '198.18.0.11',
  'metadata.name': 'terrace-controller-5d8f7c9b4-x2x7q',
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map((x) => String(x)) : []);

/** The pod template's containers (init containers first) of a workload, or [] for other kinds. */
export function podContainers(doc: Obj): Obj[] {
  const spec = isObj(doc['spec']) ? doc['spec'] : {};
  const template = isObj(spec['template']) ? spec['template'] : {};
  const pod = isObj(template['spec']) ? template['spec'] : {};
  const list = [...(Array.isArray(pod['initContainers']) ? pod['initContainers'] : []), ...(Array.isArray(pod['containers']) ? pod['containers'] : [])];
  return list.filter(isObj);
}

/** A container's command and args as the kubelet runs them, `$(VAR)` expanded from its env. */
export function containerInvocation(container: Obj, where: string): Invocation {
  const env: Record<string, string> = {};
  for (const e of Array.isArray(container['env']) ? container['env'] : []) {
    if (!isObj(e) || typeof e['name'] !== 'string') continue;
    if (typeof e['value'] === 'string') env[e['name']] = e['value'];
    const ref = isObj(e['valueFrom']) && isObj(e['valueFrom']['fieldRef']) ? e['valueFrom']['fieldRef']['fieldPath'] : undefined;
    if (typeof ref === 'string') {
      const v = FIELD_VALUES[ref];
      if (v === undefined) throw new Error(`${where}: fieldRef ${ref} has no sample value in this test`);
      env[e['name']] = v;
    }
  }
  const here = `${where} container ${String(container['name'])}`;
  const words = [...strings(container['command']), ...strings(container['args'])].map((w) =>
    w.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_m, k: string) => {
      const v = env[k];
      // The kubelet would pass an unknown $(VAR) through literally: a bug here.
      if (v === undefined) throw new Error(`${here}: $(${k}) is not defined in the container's env`);
      return v;
    }),
  );
  const [program = '', ...args] = words;
  return { where: here, program: basename(program), args };
}
