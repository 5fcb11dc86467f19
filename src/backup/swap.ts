import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { quoteIdent } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { ExitCode, RefusedError, ToolError, errorMessage } from '../errors.js';
import { withMaintenance } from './catalog.js';
import { dropDatabase, siblingName, terminateSessions } from './databases.js';
import type { BackupContext } from './types.js';

const OBJECT_IN_USE = '55006';

/**
 * Both renames (and the owner) in one transaction: ALTER DATABASE ... RENAME is allowed in a
 * transaction block, so either the restored copy has the name and the original is aside, or nothing
 * changed. A rename fails while anyone is connected to the database, and a connection pool reconnects
 * at once: the sessions are ended and the whole transaction retried. A new connection waits for the
 * transaction (it locks the database object) and then finds the database under its committed name.
 */
async function swapInOneTransaction(client: pg.Client, target: string, restored: string, aside: string, owner: string | undefined, attempts: number): Promise<{ ownerProblem?: string }> {
  for (let attempt = 1; ; attempt += 1) {
    await client.query('BEGIN');
    try {
      await terminateSessions(client, target);
      await client.query(`ALTER DATABASE ${quoteIdent(target)} RENAME TO ${quoteIdent(aside)}`);
      await terminateSessions(client, restored);
      await client.query(`ALTER DATABASE ${quoteIdent(restored)} RENAME TO ${quoteIdent(target)}`);
      let ownerProblem: string | undefined;
      if (owner) {
        // Not being allowed to give the database back to its owner does not undo the swap.
        await client.query('SAVEPOINT owner');
        try {
          await client.query(`ALTER DATABASE ${quoteIdent(target)} OWNER TO ${quoteIdent(owner)}`);
        } catch (error) {
          ownerProblem = errorMessage(error);
          await client.query('ROLLBACK TO SAVEPOINT owner');
        }
      }
      await client.query('COMMIT');
      return ownerProblem === undefined ? {} : { ownerProblem };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if ((error as { code?: string }).code !== OBJECT_IN_USE || attempt >= attempts) throw error;
      await sleep(100);
    }
  }
}

/**
 * Puts the database `restored` in the place of `target.database` on the same server, atomically: the
 * target's sessions are ended, it is renamed aside and `restored` takes its name and its owner, in one
 * transaction. If that fails, nothing was renamed and the restored copy is dropped. The replaced
 * database is kept as `keepAs`, else dropped after the swap.
 */
export async function swapDatabases(ctx: BackupContext, target: DbTarget, restored: string, keepAs: string | undefined, attempts = 50): Promise<void> {
  const { logger } = ctx;
  await withMaintenance(target, ctx.applicationName, async (client) => {
    const owner = (await client.query<{ owner: string }>('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [target.database])).rows[0]?.owner;
    const aside = keepAs ?? siblingName(target.database, 'replaced');
    let swapped: { ownerProblem?: string };
    try {
      swapped = await swapInOneTransaction(client, target.database, restored, aside, owner, attempts);
    } catch (error) {
      await dropDatabase(client, restored).catch((dropError: unknown) => {
        logger.error({ database: restored, error: errorMessage(dropError) }, `could not drop the restored copy ${restored}: drop it by hand`);
      });
      const code = (error as { code?: string }).code;
      const why = `could not swap the restored copy in for "${target.database}", nothing was renamed and the copy was dropped: ${errorMessage(error)}`;
      // Sessions that kept reconnecting, or a missing privilege: a refusal. Anything else is unexpected.
      if (code === OBJECT_IN_USE || code === '42501') throw new RefusedError(why, { cause: error });
      throw new ToolError(why, '', ExitCode.Internal, { cause: error });
    }
    if (swapped.ownerProblem !== undefined) {
      logger.warn({ owner, error: swapped.ownerProblem }, `the restored database is owned by ${target.user}, not ${owner}: ${swapped.ownerProblem}`);
    }
    if (keepAs === undefined) {
      await dropDatabase(client, aside).catch((error: unknown) => logger.warn({ database: aside, error: errorMessage(error) }, `could not drop the replaced database ${aside}: drop it by hand`));
    }
  });
}
