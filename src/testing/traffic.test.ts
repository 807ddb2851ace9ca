import * as jose from 'jose';
import { createParser } from '../parsers/registry';
import type { SourceType } from '../model/events';
import { loadRules } from '../detect/rules/load';
import { SHIPPED_RULES_DIR } from '../detect/eval';
import { generateTraffic, TRAFFIC_ISSUER, type Traffic } from './traffic';

jest.setTimeout(60_000);

describe('testing/traffic > labeled synthetic traffic', () => {
  let t: Traffic;
  beforeAll(async () => {
    t = await generateTraffic({ seed: 11, users: 24, days: 8, learningDays: 5 });
  });

  it('injects at least one case for every shipped rule, each with lines, after the learning days', () => {
    const rules = loadRules(SHIPPED_RULES_DIR).rules.map((r) => r.id);
    expect(new Set(t.cases.map((c) => c.rule))).toEqual(new Set(rules));
    const start = Date.parse('2026-03-02T00:00:00Z') + 5 * 86_400_000;
    for (const c of t.cases) {
      const lines = t.inputs.filter((i) => i.label === c.id);
      expect({ id: c.id, lines: lines.length > 0 }).toEqual({ id: c.id, lines: true });
      for (const l of lines) expect(l.t).toBeGreaterThanOrEqual(start);
      for (const a of c.accepts) expect(rules).toContain(a);
    }
  });

  it('is mostly benign, in time order, and the same for the same seed (labels and times)', async () => {
    const benign = t.inputs.filter((i) => i.label === 'benign').length;
    expect(benign / t.inputs.length).toBeGreaterThan(0.9);
    for (let i = 1; i < t.inputs.length; i++) expect(t.inputs[i]!.t).toBeGreaterThanOrEqual(t.inputs[i - 1]!.t);
    const again = await generateTraffic({ seed: 11, users: 24, days: 8, learningDays: 5 });
    expect(again.inputs.map((i) => `${i.source}|${i.t}|${i.label}`)).toEqual(t.inputs.map((i) => `${i.source}|${i.t}|${i.label}`));
    expect(again.cases).toEqual(t.cases);
  });

  it('writes lines every real parser accepts', () => {
    const parsers = new Map<SourceType, ReturnType<typeof createParser>>();
    const rejected: string[] = [];
    t.inputs.forEach((inp, i) => {
      let p = parsers.get(inp.source);
      if (!p) parsers.set(inp.source, (p = createParser(inp.source, {})));
      const res = p({ value: Buffer.from(inp.line), ref: { source: inp.source, file: 'traffic', line: i + 1 }, receivedAtMs: inp.t });
      if (!res.ok) rejected.push(`${inp.source}:${res.rejection.reason}`);
    });
    expect(rejected).toEqual([]);
  });

  it('signs people\'s tokens with the published key, and forged ones with another', async () => {
    const keys = jose.createLocalJWKSet(t.issuer.jwks);
    const bearer = (label: string) => {
      const line = t.inputs.find((i) => i.label === label && i.source === 'tyk')!.line;
      const raw = Buffer.from(JSON.parse(line).raw_request as string, 'base64').toString();
      return /Authorization: Bearer (\S+)/.exec(raw)![1]!;
    };
    const good = bearer('benign');
    const { payload } = await jose.jwtVerify(good, keys, { issuer: TRAFFIC_ISSUER, currentDate: new Date(jose.decodeJwt(good).iat! * 1000 + 60_000) });
    expect(payload.sub).toBeTruthy();
    await expect(jose.jwtVerify(bearer('forged-source-1'), keys)).rejects.toThrow(/signature/);
  });

  it('lists the revocations of the revocation cases', () => {
    expect(t.revocations.subjects).toHaveLength(1);
    expect(t.revocations.tokens[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(t.inputs.some((i) => i.label === 'revoked-subject')).toBe(true);
    expect(t.inputs.some((i) => i.label === 'revoked-token')).toBe(true);
  });
});
