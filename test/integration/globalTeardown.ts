/** Jest globalTeardown for the `integration` project: stops what globalSetup started. */
import { harness, InfraGlobal, INFRA_GLOBAL_KEY } from './infra';

export default async function globalTeardown(): Promise<void> {
  const g = (globalThis as Record<string, unknown>)[INFRA_GLOBAL_KEY] as InfraGlobal | undefined;
  if (!g || g.reused || !g.handle) return;
  delete (globalThis as Record<string, unknown>)[INFRA_GLOBAL_KEY];
  try {
    await harness.stopAll(g.handle, {
      log: (msg: string) => process.stderr.write(`[infra] ${msg}\n`),
    });
  } catch (err) {
    harness.abortSync();
    const e = new Error((err as Error).message);
    e.stack = e.message;
    throw e;
  } finally {
    g.dispose?.();
  }
}
