/**
 * Jest globalSetup for the `integration` project: makes Kafka and Elasticsearch available
 * and exports AUDITMESH_TEST_KAFKA_BROKERS / AUDITMESH_TEST_ELASTICSEARCH_URL to process.env
 * (test workers and in-band test environments inherit it).
 *
 * Reuse: if both variables are already set and both servers answer (e.g. after
 * `node scripts/infra.mjs start --detach && eval "$(node scripts/infra.mjs env)"`),
 * they are used as-is and not stopped by globalTeardown.
 */
import { harness, InfraHandle, INFRA_GLOBAL_KEY } from './infra';

function clean(err: unknown): Error {
  // Expected harness errors (missing Java, download failure, start failure + log tail):
  // show the message only, not a stack trace.
  if (err && typeof err === 'object' && (err as { harness?: boolean }).harness) {
    const e = new Error((err as Error).message);
    e.stack = (err as Error).message;
    return e;
  }
  return err as Error;
}

export default async function globalSetup(): Promise<void> {
  const log = (msg: string): void => {
    process.stderr.write(`[infra] ${msg}\n`);
  };
  const brokers = process.env[harness.ENV_KAFKA];
  const esUrl = process.env[harness.ENV_ES];
  if (brokers && esUrl) {
    const [k, e] = await Promise.all([harness.kafkaAnswers(brokers), harness.elasticsearchAnswers(esUrl)]);
    if (k && e) {
      log(`reusing Kafka ${brokers} and Elasticsearch ${esUrl} from the environment`);
      (globalThis as Record<string, unknown>)[INFRA_GLOBAL_KEY] = { reused: true };
      return;
    }
    log(
      `${harness.ENV_KAFKA}/${harness.ENV_ES} are set but ${!k ? `Kafka ${brokers}` : ''}${!k && !e ? ' and ' : ''}` +
        `${!e ? `Elasticsearch ${esUrl}` : ''} did not answer; starting private servers`,
    );
  }

  // Nothing may be left behind if jest exits or is interrupted before globalTeardown.
  const onExit = (): void => harness.abortSync();
  const onSignal = (sig: NodeJS.Signals): void => {
    harness.abortSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', onExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let handle: InfraHandle;
  try {
    handle = await harness.startAll({ log });
  } catch (err) {
    throw clean(err);
  }
  harness.unref(handle);
  process.env[harness.ENV_KAFKA] = handle.env[harness.ENV_KAFKA];
  process.env[harness.ENV_ES] = handle.env[harness.ENV_ES];
  (globalThis as Record<string, unknown>)[INFRA_GLOBAL_KEY] = {
    reused: false,
    handle,
    dispose: (): void => {
      process.removeListener('exit', onExit);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}
