import type { RouteModule } from '../app';
import { openApiDocument } from '../openapi';

/**
 * `GET /openapi.json` (no token: the document holds no data). `extraPaths` lets other route modules
 * (e.g. alerts) add their own path items.
 */
export function openApiRoutes(opts: { extraPaths?: Record<string, unknown> } = {}): RouteModule {
  const doc = openApiDocument();
  Object.assign(doc.paths as Record<string, unknown>, opts.extraPaths ?? {});
  const body = JSON.stringify(doc);
  return (app) => {
    app.get('/openapi.json', (_req, res) => {
      res.type('application/json').send(body);
    });
  };
}
