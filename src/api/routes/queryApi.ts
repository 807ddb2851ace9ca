import type { RouteModule } from '../app';
import type { ReportsConfig } from '../../store/reports';
import { auditLogRoutes } from './auditLog';
import { exportRoutes, type ExportManifests } from './export';
import { identityRoutes } from './identities';
import { openApiRoutes } from './openapi';
import { reportRoutes } from './reports';

/**
 * The query API of issue 5: identity activity, reports, export (+ manifests), the audit log and the
 * OpenAPI document. The API audit trail is middleware (api/apiAudit.ts), passed to createApp
 * separately because it must run before the core routes too.
 */
export function queryApiRoutes(opts: { reports: ReportsConfig; manifests?: ExportManifests; now?: () => Date; openApiExtraPaths?: Record<string, unknown> }): RouteModule[] {
  const now = opts.now ? { now: opts.now } : {};
  return [
    identityRoutes(now),
    reportRoutes({ reports: opts.reports, ...now }),
    exportRoutes({ ...(opts.manifests ? { manifests: opts.manifests } : {}), ...now }),
    auditLogRoutes(),
    openApiRoutes(opts.openApiExtraPaths ? { extraPaths: opts.openApiExtraPaths } : {}),
  ];
}
