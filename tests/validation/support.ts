import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { connect } from '../../src/db/client.js';
import { parseDatabaseUrl, type DbTarget } from '../../src/db/target.js';
import type { TestDatabase } from '../harness/db.js';

export function targetOf(db: TestDatabase): DbTarget {
  return parseDatabaseUrl(db.url);
}

/** A client on the test database, tagged with `applicationName`; closed by the returned list's cleanup. */
export function clients(): { open(db: TestDatabase, applicationName?: string): Promise<pg.Client>; closeAll(): Promise<void> } {
  const opened: pg.Client[] = [];
  return {
    async open(db, applicationName = 'validation-test') {
      const client = await connect(targetOf(db), applicationName);
      opened.push(client);
      return client;
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((client) => client.end().catch(() => undefined)));
    },
  };
}

export function uniqueTag(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Polls `probe` until `done` accepts its value or the deadline passes; returns the last value either way. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, deadlineMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    value = await probe();
  }
  return value;
}
