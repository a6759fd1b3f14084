/**
 * How every lab starts: make the lab object (from then on its destroy() owns
 * the namespaces and the temporary directory), then build it. On any failure
 * whatever exists is torn down before the error is rethrown.
 */
import { rmSync } from 'node:fs';

export async function startOrTearDown<L extends { destroy(): Promise<unknown> }>(
  kit: { destroy(): Promise<unknown> },
  tmp: string,
  make: () => Promise<L>,
  build: (lab: L) => Promise<void>,
): Promise<L> {
  let lab: L | undefined;
  try {
    lab = await make();
    await build(lab);
    return lab;
  } catch (e) {
    if (lab) await lab.destroy();
    else {
      await kit.destroy();
      rmSync(tmp, { recursive: true, force: true });
    }
    throw e;
  }
}
