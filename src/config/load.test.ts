import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from './load';
import { loadPipelines } from './pipelines';
import { ConfigError } from '../errors';

describe('config > load and validate', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const errorOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('gives the embedded defaults with no file and no environment', () => {
    const c = loadConfig({});
    expect(c.server.port).toBe(8080);
    expect(c.dataDir).toBe('./data');
    expect(c.kafka.brokers).toEqual([]);
    expect(c.elasticsearch.url).toBeUndefined();
  });

  it('lets environment variables override the file', () => {
    const f = file('a.yaml', 'server:\n  port: 9000\ndataDir: /var/lib/x\n');
    const c = loadConfig({ AUDITMESH_CONFIG: f, PORT: '9100', KAFKA_BROKERS: 'k1:9092, k2:9092', ELASTICSEARCH_URL: 'http://es:9200' });
    expect(c.server.port).toBe(9100);
    expect(c.dataDir).toBe('/var/lib/x');
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(c.elasticsearch.url).toBe('http://es:9200');
  });

  it('names every bad key at once, with the value it got', () => {
    const f = file('bad.yaml', 'server:\n  port: -1\nkafka:\n  brokers: [nohost]\nidentity:\n  issuers:\n    - issuer: https://idp/\n      audiences: [a]\nbogus: 1\n');
    const msg = errorOf(() => loadConfig({ AUDITMESH_CONFIG: f }));
    expect(msg).toMatch(/server\.port: .*\(got -1\)/);
    expect(msg).toMatch(/kafka\.brokers\.0: must be host:port \(got "nohost"\)/);
    expect(msg).toMatch(/identity\.issuers\.0: exactly one of jwksUri or jwksFile is required/);
    expect(msg).toMatch(/unknown key\(s\) 'bogus'/);
  });

  it('rejects HMAC and none algorithms for an issuer', () => {
    const f = file('alg.yaml', 'identity:\n  issuers:\n    - issuer: https://idp/\n      jwksFile: k.json\n      algorithms: [HS256]\n');
    expect(errorOf(() => loadConfig({ AUDITMESH_CONFIG: f }))).toMatch(/identity\.issuers\.0\.algorithms\.0: must be one of RS\/PS\/ES/);
  });

  it('reports unreadable files and invalid YAML clearly', () => {
    expect(errorOf(() => loadConfig({ AUDITMESH_CONFIG: path.join(dir, 'nope.yaml') }))).toMatch(/cannot read config file .*nope\.yaml \(AUDITMESH_CONFIG\): ENOENT/);
    const f = file('broken.yaml', 'server: [1,\n');
    expect(errorOf(() => loadConfig({ AUDITMESH_CONFIG: f }))).toMatch(/invalid YAML in .*broken\.yaml/);
  });
});

describe('config > pipelines', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipes-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('loads the shipped pipelines', () => {
    const ps = loadPipelines(path.resolve(__dirname, '../../pipelines'));
    expect(ps.map((p) => p.id).sort()).toEqual(['envoy', 'otlp', 'panos', 'tyk']);
  });

  it('names the file and key of every problem, and duplicate ids and topics', () => {
    fs.writeFileSync(path.join(dir, 'a.yaml'), 'id: mesh\ntype: kafka\ntopics: [t1]\nparser: envoy\n');
    fs.writeFileSync(path.join(dir, 'b.yaml'), 'id: mesh\ntype: kafka\ntopics: [t1]\nparser: envoy\n');
    fs.writeFileSync(path.join(dir, 'c.yaml'), 'id: Bad Id\ntype: file\ntopics: []\nparser: syslog\nextra: 1\n');
    let msg = '';
    try {
      loadPipelines(dir);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/b\.yaml: id: 'mesh' is already used by .*a\.yaml/);
    expect(msg).toMatch(/c\.yaml[^\n]*:\n(.*\n)*\s+id: lower-case letters/);
    expect(msg).toMatch(/type: Invalid literal value, expected "kafka"/);
    expect(msg).toMatch(/topics: needs at least one topic/);
    expect(msg).toMatch(/parser: Invalid enum value/);
    expect(msg).toMatch(/unknown key\(s\) 'extra'/);
  });
});
