import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import { journalOwner, writeJournal, type RunJournal, type RunStatus, type StepRecord } from './journal.js';

/**
 * Keeps the run journal and writes it to disk, atomically, at every transition. The terminal
 * progress, the log, the report and the rollback all read this one record.
 */
export class RunRecorder {
  readonly journal: RunJournal;

  constructor(
    private readonly reportDir: string,
    private readonly logger: Logger,
    init: { runId: string; command: string; applicationName: string; startedAt: Date; steps: readonly string[] },
    /** Dry runs keep the record in memory only: they must not write. */
    private readonly persist = true,
  ) {
    this.journal = {
      runId: init.runId,
      command: init.command,
      status: 'running',
      startedAt: init.startedAt.toISOString(),
      applicationName: init.applicationName,
      steps: init.steps.map((name) => ({ name, status: 'pending' })),
      details: { ...journalOwner() },
    };
    this.flush();
  }

  step(name: string): StepRecord {
    let record = this.journal.steps.find((step) => step.name === name);
    if (!record) {
      record = { name, status: 'pending' };
      this.journal.steps.push(record);
    }
    return record;
  }

  started(name: string): void {
    const record = this.step(name);
    record.status = 'running';
    record.startedAt = new Date().toISOString();
    this.logger.info({ step: name }, `${name}: started`);
    this.flush();
  }

  finished(name: string, status: 'succeeded' | 'failed' | 'skipped' | 'undone', detail?: string, error?: unknown): void {
    const record = this.step(name);
    record.status = status;
    record.finishedAt = new Date().toISOString();
    if (record.startedAt) record.durationMs = Date.parse(record.finishedAt) - Date.parse(record.startedAt);
    if (detail) record.detail = detail;
    if (error !== undefined) record.error = errorMessage(error);
    const fields = { step: name, durationMs: record.durationMs, ...(detail ? { detail } : {}) };
    if (status === 'failed') this.logger.error({ ...fields, error: record.error }, `${name}: failed`);
    else this.logger.info(fields, `${name}: ${status}`);
    this.flush();
  }

  /** Runs `work` as the step `name`; its return value is the step's detail line. */
  async run<T>(name: string, work: () => Promise<{ value: T; detail?: string }>): Promise<T> {
    this.started(name);
    try {
      const { value, detail } = await work();
      this.finished(name, 'succeeded', detail);
      return value;
    } catch (error) {
      this.finished(name, 'failed', undefined, error);
      throw error;
    }
  }

  skip(name: string, reason: string): void {
    this.finished(name, 'skipped', reason);
  }

  detail(key: string, value: unknown): void {
    this.journal.details[key] = value;
    this.flush();
  }

  finish(status: RunStatus, exitCode: number): void {
    this.journal.status = status;
    this.journal.exitCode = exitCode;
    this.journal.finishedAt = new Date().toISOString();
    this.flush();
  }

  set backupId(id: string) {
    this.journal.backupId = id;
    this.flush();
  }

  private flush(): void {
    if (this.persist) writeJournal(this.reportDir, this.journal);
  }
}
