import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXIT_CODES, ExitCode, describeExitCode } from '../errors.js';
import { describeLoss, type DestructiveChange } from '../lint/index.js';
import { fileTimestamp } from '../log/logger.js';
import type { RunJournal } from '../pipeline/journal.js';
import { writeFileAtomic } from '../util/atomicFile.js';
import { redactDeep } from '../util/redact.js';
import { appendAudit, type AuditEntry } from './audit.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The audit report of one run: everything the journal recorded, plus who ran it and where. */
export interface RunReport {
  readonly runId: string;
  readonly command: string;
  readonly outcome: string;
  readonly exitCode: number;
  readonly message: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly env: string;
  readonly database: string;
  readonly tool: string;
  readonly revisionBefore: string | null;
  /** Read from the database after the run; undefined when it could not be read (never assumed from the plan). */
  readonly revisionAfter: string | null | undefined;
  readonly who: { readonly user: string; readonly host: string; readonly pid: number; readonly orchestrate: string };
  readonly steps: RunJournal['steps'];
  readonly warnings: readonly string[];
  readonly logFile: string;
  /** Everything else the pipeline recorded: plan, backup, rehearsal, production, validation, rollback... */
  readonly details: Readonly<Record<string, unknown>>;
}

export function whoRanIt(): RunReport['who'] {
  let user = process.env.SUDO_USER ?? process.env.USER ?? '';
  try {
    user ||= os.userInfo().username;
  } catch {
    user ||= String(process.getuid?.() ?? 'unknown');
  }
  return { user, host: os.hostname(), pid: process.pid, orchestrate: version };
}

export interface WrittenReport {
  readonly json: string;
  readonly markdown: string;
}

function reportBase(reportDir: string, report: RunReport): string {
  return path.join(reportDir, `${fileTimestamp(new Date(report.startedAt))}-${report.runId}`);
}

/** Writes the JSON and Markdown reports and appends the run's line to the audit ledger. */
export function writeRunReport(reportDir: string, report: RunReport, audit: Omit<AuditEntry, 'report'>): WrittenReport {
  const safe = redactDeep(report);
  const base = reportBase(reportDir, safe);
  const written = { json: `${base}.json`, markdown: `${base}.md` };
  writeFileAtomic(written.json, `${JSON.stringify(safe, null, 2)}\n`);
  writeFileAtomic(written.markdown, renderMarkdown(safe));
  appendAudit(reportDir, { ...audit, report: path.basename(written.json) });
  return written;
}

function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const escape = (value: unknown) => String(value ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`)].join('\n');
}

function codeBlock(text: string): string {
  return `\`\`\`\n${text.replace(/```/g, '``\u200b`')}\n\`\`\``;
}

export function renderMarkdown(report: RunReport): string {
  const details = report.details as Record<string, unknown> & {
    plan?: { from: string | null; to: string | null; migrations: { id: string; description: string }[] };
    backup?: { id: string; bytes: number; sha256: string; verified: boolean };
    rehearsal?: { database: string; restoreMs: number; migrateMs: number; locks: { table: string; strongestMode: string; strongestHeldMs: number }[]; rewrittenTables: string[] };
    validation?: { name: string; status: string; detail: string }[];
    rollback?: { path: string; verified: boolean; attempts: string[]; differences: string[]; nextCommand?: string; dataLossWindow?: Record<string, { inserted: number; updated: number; deleted: number }> };
    production?: { command: string; exitCode?: number; durationMs: number; stderr: string };
    forced?: { skips: string[]; reason: string | null };
    destructive?: DestructiveChange[];
  };
  const lines: string[] = [
    `# orchestrate ${report.command}: ${report.outcome} (exit ${report.exitCode})`,
    '',
    report.message,
    '',
    `**${describeExitCode(report.exitCode)}**`,
    '',
    table(
      ['run', 'database', 'env', 'tool', 'revision before', 'revision after', 'started', 'duration', 'who'],
      [[report.runId, report.database, report.env, report.tool, report.revisionBefore ?? 'base', report.revisionAfter === undefined ? 'unknown' : (report.revisionAfter ?? 'base'), report.startedAt, `${(report.durationMs / 1000).toFixed(1)} s`, `${report.who.user}@${report.who.host}`]],
    ),
    '',
    '## Steps',
    '',
    table(['step', 'status', 'duration', 'detail'], report.steps.map((step) => [step.name, step.status, step.durationMs === undefined ? '' : `${step.durationMs} ms`, step.error ?? step.detail ?? ''])),
  ];
  if (details.plan) {
    lines.push('', '## Migrations', '', table(['id', 'description'], details.plan.migrations.map((m) => [m.id, m.description])));
  }
  if (details.destructive && details.destructive.length > 0) lines.push('', '## Destroys data', '', ...details.destructive.map((change) => `- ${describeLoss(change)}`));
  if (details.forced) lines.push('', `**Forced:** ${details.forced.skips.join(', ')}${details.forced.reason ? ` — reason: ${details.forced.reason}` : ''}`);
  if (report.warnings.length > 0) lines.push('', '## Warnings', '', ...report.warnings.map((warning) => `- ${warning}`));
  if (details.backup) lines.push('', '## Backup', '', `\`${details.backup.id}\` — ${details.backup.bytes} bytes, sha256 \`${details.backup.sha256}\`, verified: ${details.backup.verified ? 'yes' : 'NO'}`);
  if (details.rehearsal) {
    const r = details.rehearsal;
    lines.push('', '## Rehearsal', '', `Scratch database \`${r.database}\`: restore ${r.restoreMs} ms, migration ${r.migrateMs} ms. Rewritten tables: ${r.rewrittenTables.length > 0 ? r.rewrittenTables.join(', ') : 'none'}.`);
    if (r.locks.length > 0) lines.push('', table(['table', 'strongest lock', 'held'], r.locks.map((lock) => [lock.table, lock.strongestMode, `${lock.strongestHeldMs} ms`])));
  }
  if (details.validation) {
    lines.push('', '## Validation', '', table(['check', 'status', 'detail'], details.validation.map((check) => [check.name, check.status, check.detail.split('\n')[0]])));
    // Differences shown as unified diffs span lines: whole, below the table.
    for (const check of details.validation.filter((entry) => entry.detail.includes('\n'))) lines.push('', `### ${check.name}`, '', codeBlock(check.detail));
  }
  if (details.rollback) {
    const r = details.rollback;
    lines.push('', '## Rollback', '', `Path: ${r.path}; verified: ${r.verified ? 'yes' : 'NO'}`, '', ...r.attempts.map((attempt) => `- ${attempt}`));
    if (r.differences.length > 0) lines.push('', 'Differences from before the run:', '', ...r.differences.map((difference) => (difference.includes('\n') ? codeBlock(difference) : `- ${difference}`)));
    if (r.dataLossWindow) {
      lines.push('', '### Data-loss window (writes since the backup)', '', table(['table', 'inserted', 'updated', 'deleted'], Object.entries(r.dataLossWindow).map(([name, a]) => [name, a.inserted, a.updated, a.deleted])));
    }
    if (r.nextCommand && !r.verified) lines.push('', `**${EXIT_CODES[ExitCode.NeedsHuman].production}.** Next command:`, '', codeBlock(r.nextCommand));
  }
  if (details.production?.stderr) lines.push('', '## Production tool output (stderr)', '', codeBlock(details.production.stderr));
  lines.push('', `Log: \`${report.logFile}\``, '');
  return lines.join('\n');
}
