import { loadTemplates } from './templates';

describe('store/elasticsearch > index templates', () => {
  const templates = loadTemplates('acme-audit');

  it('loads the four templates from pipelines/elasticsearch with the prefix substituted everywhere', () => {
    expect(templates.map((t) => t.name)).toEqual(['acme-audit-records', 'acme-audit-events', 'acme-audit-keys', 'acme-audit-dead-letters']);
    expect(templates.map((t) => t.body.index_patterns)).toEqual([['acme-audit-records-*'], ['acme-audit-events-*'], ['acme-audit-keys', 'acme-audit-loc'], ['acme-audit-dead-letters']]);
    expect(JSON.stringify(templates)).not.toContain('{{prefix}}');
    for (const t of templates) expect(t.body._meta).toMatchObject({ managed_by: 'auditmesh', auditmesh_template_version: 1 });
  });

  it('uses only field types every Elasticsearch 8 distribution has, and never maps unknown fields', () => {
    const types = new Set<string>();
    const walk = (o: unknown): void => {
      if (!o || typeof o !== 'object') return;
      for (const [k, v] of Object.entries(o)) {
        if (k === 'type' && typeof v === 'string') types.add(v);
        else walk(v);
      }
    };
    for (const t of templates) {
      walk(t.body.template);
      expect((t.body.template as { mappings: { dynamic: unknown } }).mappings.dynamic).toBe(false);
    }
    expect([...types].sort()).toEqual(['boolean', 'date', 'ip', 'keyword', 'long', 'object', 'text']);
  });
});
