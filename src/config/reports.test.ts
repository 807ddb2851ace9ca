import { configSchema } from './schema';

describe('config > reports', () => {
  it('has defaults for every report setting', () => {
    expect(configSchema.parse({}).reports).toEqual({
      sensitive: { pathPrefixes: ['/api/admin', '/api/payments'], services: [] },
      adminPathPrefixes: ['/api/admin'],
      adminGroups: [],
      serviceAccountPatterns: ['svc-*', 'system:serviceaccount:*'],
    });
  });

  it.each([
    [{ sensitive: { pathPrefixes: ['api/admin'] } }, /reports\.sensitive\.pathPrefixes\.0.*must start with \//],
    [{ adminPathPrefixes: ['/x\n'] }, /adminPathPrefixes\.0.*control characters/],
    [{ serviceAccountPatterns: [''] }, /serviceAccountPatterns\.0/],
    [{ adminGroups: 'admins' }, /adminGroups/],
    [{ sensitive: { paths: ['/a'] } }, /paths/],
  ])('rejects %j and names the key', (reports, msg) => {
    const r = configSchema.safeParse({ reports });
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message} ${'keys' in i ? (i.keys as string[]).join(',') : ''}`).join('; ')).toMatch(msg);
  });
});
