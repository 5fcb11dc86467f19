import { createBackup, revisionForBackup, verifyBackup } from '../../backup/index.js';
import { formatBytes } from '../../backup/progress.js';
import { ExitCode } from '../../errors.js';
import { recoverUnderLock } from '../../pipeline/recovery.js';
import { acquireRunLock, RunLockLostError } from '../../pipeline/runLock.js';
import type { BackupArgs } from '../backup.js';
import { runCommand } from '../shared.js';

export function backup(args: BackupArgs): Promise<void> {
  return runCommand({ name: 'backup', args }, async (context) => {
    const target = context.target();
    // pg_dump's ACCESS SHARE locks would make a concurrent migration's DDL queue and time out half-way:
    // hold the migration run lock while dumping, as the pipeline and the daemon do.
    // If the lock is lost, a migration may start: pg_dump is stopped rather than left to stall its DDL.
    const lockLost = new AbortController();
    const lock = await acquireRunLock(target, `${context.applicationName}/lock`, context.settings.pipeline.lockWaitSeconds, {
      onLost: (reason) => lockLost.abort(new RunLockLostError(`the migration lock on database "${target.database}" was lost (${reason}); the backup was stopped`)),
    });
    let manifest;
    try {
      await recoverUnderLock(context, target);
      const revision = await revisionForBackup(() => context.migrator(), target, context.toolSession(), context.logger);
      manifest = await createBackup(context, target, { reason: 'manual', revision, signal: lockLost.signal, ...(args.name !== undefined ? { name: args.name } : {}) });
    } catch (error) {
      throw lockLost.signal.aborted ? (lockLost.signal.reason as RunLockLostError) : error;
    } finally {
      await lock.release();
    }
    const verification = args.verify ? await verifyBackup(context, manifest.id) : undefined;
    const ok = verification?.ok ?? true;
    const status = verification === undefined ? 'not verified' : ok ? 'verified' : `FAILED verification: ${verification.problems.join('; ')}`;
    return {
      exitCode: ok ? ExitCode.Success : ExitCode.Refused,
      json: { ok, backup: manifest, verification: verification ?? null },
      text: `backup ${manifest.id}${manifest.name ? ` (${manifest.name})` : ''}: ${manifest.archive}, ${formatBytes(manifest.bytes)}, revision ${manifest.revision ?? 'unknown'}, ${status}`,
    };
  });
}
