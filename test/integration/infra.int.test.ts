/**
 * Proves the integration harness provides real servers: a Kafka round trip through a
 * consumer group, and an Elasticsearch index + search. Fails if the servers are absent.
 */
import { createTopics, elasticsearchUrl, kafkaBrokers, newEsClient, newKafka, uniqueName } from './infra';

jest.setTimeout(60_000);

describe('integration infrastructure', () => {
  it('exposes both endpoints through the environment', () => {
    expect(kafkaBrokers()).toMatch(/^[\w.-]+:\d+(,[\w.-]+:\d+)*$/);
    expect(elasticsearchUrl()).toMatch(/^https?:\/\/[\w.-]+:\d+$/);
  });

  it('Kafka: produces 3 messages and consumes them back with a consumer group', async () => {
    const topic = uniqueName('infra-test');
    const groupId = uniqueName('infra-test-group');
    await createTopics([topic], 1);

    const kafka = newKafka('infra-int-test');
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId });
    const received: Array<{ key: string; value: string; offset: string; partition: number }> = [];
    try {
      await producer.connect();
      await producer.send({
        topic,
        messages: [1, 2, 3].map((i) => ({ key: `k${i}`, value: `message-${i}` })),
      });

      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out; received ${received.length}/3 messages`)), 45_000);
        consumer
          .run({
            eachMessage: async ({ partition, message }) => {
              received.push({
                key: message.key?.toString() ?? '',
                value: message.value?.toString() ?? '',
                offset: message.offset,
                partition,
              });
              if (received.length === 3) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch((e: unknown) => {
            clearTimeout(timer);
            reject(e);
          });
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    }

    expect(received).toEqual([
      { key: 'k1', value: 'message-1', offset: '0', partition: 0 },
      { key: 'k2', value: 'message-2', offset: '1', partition: 0 },
      { key: 'k3', value: 'message-3', offset: '2', partition: 0 },
    ]);
  });

  it('Elasticsearch: indexes a document and searches it back', async () => {
    const index = uniqueName('infra-test');
    const es = newEsClient();
    try {
      const indexed = await es.index({
        index,
        id: 'doc-1',
        document: { message: 'hello from the auditmesh harness', n: 42 },
        refresh: 'wait_for',
      });
      expect(indexed.result).toBe('created');

      const res = await es.search<{ message: string; n: number }>({
        index,
        query: { match: { message: 'harness' } },
      });
      const total = typeof res.hits.total === 'number' ? res.hits.total : res.hits.total?.value;
      expect(total).toBe(1);
      expect(res.hits.hits[0]._id).toBe('doc-1');
      expect(res.hits.hits[0]._source).toEqual({ message: 'hello from the auditmesh harness', n: 42 });

      await es.indices.delete({ index });
    } finally {
      await es.close();
    }
  });
});
