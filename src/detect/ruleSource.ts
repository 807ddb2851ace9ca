import fs from 'node:fs';
import type { Logger } from '../instrumentation/logger';
import type { DetectMetrics } from './metrics';
import { emptyRevocations, loadRevocations, type RevocationList } from './revocations';
import { loadRules, RuleLoadError } from './rules/load';
import type { LoadedRule } from './rules/schema';
import { FileWatcher } from './rules/watch';

export interface RuleSourceOptions {
  rulesDir: string;
  /** false: a missing rulesDir means "no rules" (the default location); true: a configuration error. */
  rulesDirRequired: boolean;
  revocationFile?: string;
  /** Poll interval of the fallback mtime check, in ms (0 = fs.watch only). */
  pollIntervalMs: number;
  /** Quiet time after a file event before reloading, in ms. */
  debounceMs: number;
  log: Logger;
  metrics: DetectMetrics;
}

/**
 * The current rules and revocation list. Loaded at start (an invalid file is a ConfigError naming
 * file and line), then reloaded without a restart when the files change; an invalid reload keeps the
 * previous version and logs every problem.
 */
export class RuleSource {
  rules: LoadedRule[] = [];
  revocations: RevocationList = emptyRevocations();
  /** Bumped on every successful reload (tests wait on it). */
  generation = 0;
  private watchers: FileWatcher[] = [];

  constructor(private readonly opts: RuleSourceOptions) {}

  private dirExists(): boolean {
    try {
      return fs.statSync(this.opts.rulesDir).isDirectory();
    } catch {
      return false;
    }
  }

  /** Startup load: throws RuleLoadError (a ConfigError) with every problem. */
  load(): void {
    if (this.dirExists()) this.rules = loadRules(this.opts.rulesDir).rules;
    else if (this.opts.rulesDirRequired) throw new RuleLoadError([`detect.rulesDir: directory ${this.opts.rulesDir} does not exist (create it, or remove detect.rulesDir to use <pipelinesDir>/rules)`]);
    if (this.opts.revocationFile) this.revocations = loadRevocations(this.opts.revocationFile);
    this.generation++;
  }

  /** Reload the rules; on error keep the previous ones. Returns whether the new rules are in force. */
  reloadRules(): boolean {
    try {
      const next = this.dirExists() ? loadRules(this.opts.rulesDir).rules : [];
      this.rules = next;
      this.generation++;
      this.opts.metrics.reloads.add(1, { what: 'rules', outcome: 'ok' });
      this.opts.log.info('alert rules reloaded', { dir: this.opts.rulesDir, rules: next.map((r) => r.id) });
      return true;
    } catch (e) {
      this.opts.metrics.reloads.add(1, { what: 'rules', outcome: 'invalid' });
      this.opts.log.error('alert rules not reloaded: keeping the previous rules', { dir: this.opts.rulesDir, problems: (e as RuleLoadError).problems ?? [(e as Error).message] });
      return false;
    }
  }

  reloadRevocations(): boolean {
    if (!this.opts.revocationFile) return false;
    try {
      this.revocations = loadRevocations(this.opts.revocationFile);
      this.generation++;
      this.opts.metrics.reloads.add(1, { what: 'revocations', outcome: 'ok' });
      this.opts.log.info('revocation list reloaded', { file: this.opts.revocationFile, subjects: [...this.revocations.subjects.keys()].filter((k) => !k.startsWith('~')).length, tokens: this.revocations.tokens.size });
      return true;
    } catch (e) {
      this.opts.metrics.reloads.add(1, { what: 'revocations', outcome: 'invalid' });
      this.opts.log.error('revocation list not reloaded: keeping the previous list', { file: this.opts.revocationFile, problems: (e as RuleLoadError).problems ?? [(e as Error).message] });
      return false;
    }
  }

  /** Watch the files (fs.watch + debounce + mtime poll). */
  start(): void {
    const common = { debounceMs: this.opts.debounceMs, pollIntervalMs: this.opts.pollIntervalMs, onError: (e: Error) => this.opts.log.warn('file watch failed; polling continues', { error: e.message }) };
    this.watchers.push(new FileWatcher({ ...common, target: this.opts.rulesDir, kind: 'dir', onChange: () => this.reloadRules() }));
    if (this.opts.revocationFile) this.watchers.push(new FileWatcher({ ...common, target: this.opts.revocationFile, kind: 'file', onChange: () => this.reloadRevocations() }));
    for (const w of this.watchers) w.start();
  }

  /** Check every watched file now (what the poll does); returns whether anything was reloaded. */
  check(): boolean {
    let any = false;
    for (const w of this.watchers) any = w.check() || any;
    return any;
  }

  stop(): void {
    for (const w of this.watchers) w.stop();
    this.watchers = [];
  }
}
