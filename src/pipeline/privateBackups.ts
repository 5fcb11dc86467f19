import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunContext } from '../context.js';

/**
 * Runs `work` with a context whose backups go to a temporary directory, removed afterwards. `test` and
 * `lint --rehearse` need a dump to restore a scratch copy from; it must not join the backup store.
 */
export async function withPrivateBackups<T>(context: RunContext, work: (privateContext: RunContext) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-private-dump-'));
  try {
    return await work({ ...context, settings: { ...context.settings, backupDir: dir } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
