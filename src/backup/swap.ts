import { quoteIdent } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { ExitCode, OrchestrateError, RefusedError, ToolError, errorMessage } from '../errors.js';
import { withMaintenance } from './catalog.js';
import { dropDatabase, renameDatabase, siblingName } from './databases.js';
import type { BackupContext } from './types.js';

/**
 * Puts the database `restored` in the place of `target.database` on the same server: the target's
 * sessions are ended and it is renamed aside, then `restored` takes its name and its owner. The
 * replaced database is kept as `keepAs`, else dropped. If the second rename fails the original is put
 * back; if even that fails, a human must decide (exit 7), and the message names both databases.
 */
export async function swapDatabases(ctx: BackupContext, target: DbTarget, restored: string, keepAs: string | undefined): Promise<void> {
  const { logger } = ctx;
  await withMaintenance(target, ctx.applicationName, async (client) => {
    const owner = (await client.query<{ owner: string }>('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [target.database])).rows[0]?.owner;
    const aside = keepAs ?? siblingName(target.database, 'replaced');
    try {
      await renameDatabase(client, target.database, aside);
    } catch (error) {
      await dropDatabase(client, restored).catch(() => undefined);
      throw new RefusedError(`could not take database "${target.database}" out of service, nothing was replaced: ${errorMessage(error)}`, { cause: error });
    }
    try {
      await renameDatabase(client, restored, target.database);
    } catch (error) {
      try {
        await renameDatabase(client, aside, target.database);
      } catch (backError) {
        throw new OrchestrateError(
          `database "${target.database}" was renamed to "${aside}" and neither the restored copy "${restored}" nor the original could be put back under its name: ${errorMessage(backError)}`,
          ExitCode.NeedsHuman,
          { cause: error },
        );
      }
      await dropDatabase(client, restored).catch(() => undefined);
      throw new ToolError(`could not rename the restored copy to "${target.database}", the original was put back: ${errorMessage(error)}`, '', ExitCode.Internal, { cause: error });
    }
    if (owner) {
      await client.query(`ALTER DATABASE ${quoteIdent(target.database)} OWNER TO ${quoteIdent(owner)}`).catch((error: unknown) => {
        logger.warn({ owner, error: errorMessage(error) }, `the restored database is owned by ${target.user}, not ${owner}: ${errorMessage(error)}`);
      });
    }
    if (keepAs === undefined) {
      await dropDatabase(client, aside).catch((error: unknown) => logger.warn({ database: aside, error: errorMessage(error) }, `could not drop the replaced database ${aside}: drop it by hand`));
    }
  });
}
