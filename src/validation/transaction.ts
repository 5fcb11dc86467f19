import type pg from 'pg';

export interface ReadOnlyOptions {
  /** REPEATABLE READ gives every query of `work` the same snapshot (one consistent picture of all tables). */
  readonly repeatableRead?: boolean;
  /** Session settings for this transaction only (SET LOCAL), e.g. search_path, lock_timeout. */
  readonly settings?: Readonly<Record<string, string>>;
}

/**
 * Runs `work` inside a READ ONLY transaction that is always ended, so nothing this library does can
 * write to the database it inspects. The client must not already be inside a transaction.
 */
export async function inReadOnlyTransaction<T>(client: pg.Client, options: ReadOnlyOptions, work: () => Promise<T>): Promise<T> {
  await client.query(options.repeatableRead ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN READ ONLY');
  try {
    const entries = Object.entries(options.settings ?? {});
    if (entries.length > 0) {
      const calls = entries.map((_, index) => `pg_catalog.set_config($${index * 2 + 1}, $${index * 2 + 2}, true)`).join(', ');
      await client.query(`SELECT ${calls}`, entries.flat());
    }
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * search_path = pg_catalog makes pg_get_*def, format_type and regclass output schema-qualify every
 * user object, so definitions read the same whatever the caller's search_path was.
 */
export const QUALIFIED_NAMES: Readonly<Record<string, string>> = { search_path: 'pg_catalog' };
