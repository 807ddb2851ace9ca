import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../config/schema';
import { loadConfig } from '../config/load';
import { ConfigError } from '../errors';
import { createLogger } from '../instrumentation/logger';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { attachLedger } from './ledger';

describe('ledger > config', () => {
  it('defaults: enabled, a checkpoint every 1000 entries or 60 s, no export', () => {
    expect(configSchema.parse({}).ledger).toEqual({ enabled: true, checkpointEveryEntries: 1000, checkpointEverySeconds: 60 });
  });

  it('names the key and the fix when nothing would ever be signed, or a key is unknown', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-cfg-'));
    const file = path.join(dir, 'auditmesh.yaml');
    fs.writeFileSync(file, 'ledger:\n  checkpointEveryEntries: 0\n  checkpointEverySeconds: 0\n  exportdir: /tmp\n');
    try {
      expect(() => loadConfig({}, file)).toThrow(ConfigError);
      expect(() => loadConfig({}, file)).toThrow(/ledger: .*unknown key\(s\) 'exportdir'/s);
      fs.writeFileSync(file, 'ledger:\n  checkpointEveryEntries: 0\n  checkpointEverySeconds: 0\n');
      expect(() => loadConfig({}, file)).toThrow(/ledger: checkpointEveryEntries and checkpointEverySeconds cannot both be 0/);
      fs.writeFileSync(file, 'ledger:\n  enabled: false\n  checkpointEveryEntries: 0\n  checkpointEverySeconds: 0\n');
      expect(loadConfig({}, file).ledger.enabled).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses ledger.kafkaTopic without kafka.brokers at start, and attaches nothing when disabled', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-cfg-'));
    const store = new SqliteStore(dir);
    await store.init();
    try {
      await expect(attachLedger(configSchema.parse({ dataDir: dir, ledger: { kafkaTopic: 'audit-checkpoints' } }), store, { log: createLogger('error') })).rejects.toThrow(
        /ledger.kafkaTopic: set kafka.brokers/,
      );
      expect(await attachLedger(configSchema.parse({ dataDir: dir, ledger: { enabled: false } }), store, { log: createLogger('error') })).toBeUndefined();
      expect(fs.existsSync(path.join(dir, 'ledger-signing-key.json'))).toBe(false);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
