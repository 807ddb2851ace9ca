import fs from 'node:fs';
import { z } from 'zod';
import { canonicalPrincipal } from '../identity/resolve';
import { RuleLoadError } from './rules/load';
import { formatIssues, parseYaml } from './yamlSource';

/**
 * The revocation list (`detect.revocationFile`, YAML or JSON): identities and tokens revoked at a
 * point in time. A request whose event time is at or after the revocation alerts (rule type
 * `revoked_token`); earlier requests do not, so replaying old logs stays quiet.
 *
 * ```yaml
 * subjects:
 *   - subject: dave            # JWT sub / SPIFFE id / user name as auditmesh records it
 *     revokedAt: 2026-03-09T12:00:00Z
 *     reason: offboarded
 * tokens:
 *   - sha256: 9f86d0...        # SHA-256 (hex) of the token, as in related.hash / claims[].tokenSha256
 *     revokedAt: 2026-03-09T14:00:00Z
 * ```
 */
const when = z.string().refine((s) => !Number.isNaN(Date.parse(s)) && /\d{4}-\d{2}-\d{2}T/.test(s), 'must be an ISO 8601 date-time with a zone, e.g. 2026-03-09T12:00:00Z');

export const revocationSchema = z
  .object({
    subjects: z
      .array(z.object({ subject: z.string().min(1), revokedAt: when, reason: z.string().optional() }).strict())
      .default([]),
    tokens: z
      .array(
        z
          .object({
            sha256: z.string().transform((s) => s.toLowerCase()).refine((s) => /^[0-9a-f]{64}$/.test(s), 'must be 64 hex digits (SHA-256 of the token)'),
            revokedAt: when,
            reason: z.string().optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

export interface Revocation {
  revokedAtMs: number;
  reason?: string;
}

export interface RevocationList {
  /** canonical principal (see identity/resolve.ts) and exact subject → earliest revocation. */
  subjects: Map<string, Revocation>;
  tokens: Map<string, Revocation>;
}

export const emptyRevocations = (): RevocationList => ({ subjects: new Map(), tokens: new Map() });

function put(m: Map<string, Revocation>, k: string, r: Revocation): void {
  const prev = m.get(k);
  if (!prev || r.revokedAtMs < prev.revokedAtMs) m.set(k, r);
}

export function parseRevocations(file: string, text: string): RevocationList {
  const parsed = parseYaml(file, text);
  if (!parsed.ok) throw new RuleLoadError([parsed.message]);
  const res = revocationSchema.safeParse(parsed.src.value ?? {});
  if (!res.success) throw new RuleLoadError(formatIssues(parsed.src, res.error));
  const out = emptyRevocations();
  for (const s of res.data.subjects) {
    const r: Revocation = { revokedAtMs: Date.parse(s.revokedAt), ...(s.reason ? { reason: s.reason } : {}) };
    put(out.subjects, s.subject, r);
    put(out.subjects, `~${canonicalPrincipal(s.subject)}`, r);
  }
  for (const t of res.data.tokens) put(out.tokens, t.sha256, { revokedAtMs: Date.parse(t.revokedAt), ...(t.reason ? { reason: t.reason } : {}) });
  return out;
}

export function loadRevocations(file: string): RevocationList {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new RuleLoadError([`detect.revocationFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  return parseRevocations(file, text);
}

/** The revocation that applies to `subject` (exact, else by canonical principal), if any. */
export function subjectRevocation(list: RevocationList, subject: string): Revocation | undefined {
  return list.subjects.get(subject) ?? (subject.startsWith('spiffe://') ? undefined : list.subjects.get(`~${canonicalPrincipal(subject)}`));
}
