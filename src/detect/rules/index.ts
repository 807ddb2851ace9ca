import type { RuleType } from './schema';
import type { RuleImpl } from './types';
import { invalidTokens } from './invalidTokens';
import { identityMismatch } from './identityMismatch';
import { unverifiedSensitiveRoute } from './unverifiedSensitiveRoute';
import { newSource } from './newSource';
import { deniedBurst } from './deniedBurst';
import { unusualHour } from './unusualHour';
import { rateSpike } from './rateSpike';
import { workloadOutsideMesh } from './workloadOutsideMesh';
import { humanTokenFromWorkload } from './humanTokenFromWorkload';
import { expiredToken } from './expiredToken';
import { revokedToken } from './revokedToken';

/** Built-in rule types: `type:` in a rule file → implementation. Nothing scans the disk. */
export const RULE_IMPLS: { [T in RuleType]: RuleImpl<T> } = {
  invalid_tokens: invalidTokens,
  identity_mismatch: identityMismatch,
  unverified_sensitive_route: unverifiedSensitiveRoute,
  new_source: newSource,
  denied_burst: deniedBurst,
  unusual_hour: unusualHour,
  rate_spike: rateSpike,
  workload_outside_mesh: workloadOutsideMesh,
  human_token_from_workload: humanTokenFromWorkload,
  expired_token: expiredToken,
  revoked_token: revokedToken,
};

export function implOf<T extends RuleType>(type: T): RuleImpl<T> {
  return RULE_IMPLS[type] as RuleImpl<T>;
}

export type { Match, RuleImpl, EvalContext } from './types';
