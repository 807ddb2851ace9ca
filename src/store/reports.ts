import type { RecordPredicate } from '../model/analytics';

/**
 * SOC 2 evidence reports: each is a predicate over the indexed record projection, evaluated by the
 * store and grouped by identity (user.id). `api` records are never part of a report.
 */

export const REPORT_NAMES = ['sensitive-access', 'denied-access', 'unverified-identity', 'privileged-actions', 'service-accounts'] as const;
export type ReportName = (typeof REPORT_NAMES)[number];

/** What the reports consider sensitive / privileged (config `reports`, see config/schema.ts). */
export interface ReportsConfig {
  sensitive: { pathPrefixes: string[]; services: string[] };
  adminPathPrefixes: string[];
  adminGroups: string[];
  serviceAccountPatterns: string[];
}

/** PAN-OS actions that block or drop traffic (the panos parser's list: event.type `denied`). */
export const DENIED_FIREWALL_ACTIONS: readonly string[] = [
  'deny',
  'drop',
  'drop-icmp',
  'reset-client',
  'reset-server',
  'reset-both',
  'block-url',
  'block-ip',
  'random-drop',
  'sinkhole',
  'block',
  'block-continue',
  'block-override',
  'override-lockout',
];

/** HTTP methods that change state. */
export const WRITE_METHODS: readonly string[] = ['POST', 'PUT', 'PATCH', 'DELETE'];

const anyPrefix = (prefixes: string[]): RecordPredicate[] => prefixes.map((p) => ({ field: 'path' as const, prefix: p }));

/** The record predicate of a report. Empty config lists match nothing (never everything). */
export function reportPredicate(name: ReportName, cfg: ReportsConfig): RecordPredicate {
  switch (name) {
    case 'sensitive-access':
      return {
        any: [...anyPrefix(cfg.sensitive.pathPrefixes), ...(cfg.sensitive.services.length ? [{ field: 'service' as const, in: cfg.sensitive.services }] : [])],
      };
    case 'denied-access':
      return {
        all: [
          { field: 'outcome', eq: 'failure' },
          { any: [{ field: 'status', in: [401, 403] }, { field: 'firewallAction', in: [...DENIED_FIREWALL_ACTIONS] }] },
        ],
      };
    case 'unverified-identity':
      return {
        all: [
          { field: 'recordType', eq: 'request' },
          { any: [{ not: { field: 'verified', eq: true } }, { field: 'mismatch', eq: true }] },
        ],
      };
    case 'privileged-actions':
      return {
        all: [
          { field: 'method', in: [...WRITE_METHODS] },
          { any: [...anyPrefix(cfg.adminPathPrefixes), ...(cfg.adminGroups.length ? [{ rolesAny: cfg.adminGroups }] : [])] },
        ],
      };
    case 'service-accounts':
      return {
        any: [{ field: 'identityMethod', eq: 'spiffe' }, ...cfg.serviceAccountPatterns.map((g) => ({ field: 'userId' as const, glob: g }))],
      };
  }
}
