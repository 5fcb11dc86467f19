import { sameServer, type DbTarget } from '../db/target.js';
import { withMaintenance } from './catalog.js';
import type { BackupContext, BackupManifest, BackupSource } from './types.js';

/** The source of a manifest written before `source` was recorded: parsed from `user@host:port/db`. */
function sourceOf(manifest: BackupManifest): BackupSource | undefined {
  if (manifest.source) return manifest.source;
  const match = /^[^@]*@(.+):(\d+)\/(.+)$/.exec(manifest.database);
  return match ? { host: match[1] ?? '', port: Number(match[2]), database: match[3] ?? '' } : undefined;
}

async function serverIdentifier(ctx: BackupContext, server: DbTarget): Promise<string | undefined> {
  try {
    return await withMaintenance(server, ctx.applicationName, async (client) => (await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0]?.id);
  } catch {
    return undefined;
  }
}

/**
 * Whether `into` is the database the backup was taken from: the same name on the same server, where
 * the same server means the same host and port, or the same system identifier under another name.
 */
export async function restoringIntoSource(ctx: BackupContext, manifest: BackupManifest, into: DbTarget): Promise<boolean> {
  const source = sourceOf(manifest);
  if (!source || source.database !== into.database) return false;
  if (sameServer({ ...into, host: source.host, port: source.port }, into)) return true;
  if (!source.systemIdentifier) return false;
  return (await serverIdentifier(ctx, into)) === source.systemIdentifier;
}
