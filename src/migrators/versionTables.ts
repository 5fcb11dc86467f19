import type { Settings } from '../config/settings.js';

/**
 * The tables the migration tool keeps its own revision records in, as configured: `table` (in
 * whichever schema the tool's search_path puts it) or `schema.table`. alembic: migrator.versionTable,
 * default alembic_version; node-pg-migrate: migrator.migrationsTable; command: migrator.versionTable
 * when set.
 */
export function toolVersionTables(migrator: Settings['migrator']): string[] {
  switch (migrator.tool) {
    case 'alembic':
      return [migrator.versionTable ?? 'alembic_version'];
    case 'node-pg-migrate':
      return [migrator.migrationsTable];
    case 'command':
      return migrator.versionTable ? [migrator.versionTable] : [];
  }
}

/** Whether `qualified` ("schema.table") is one of `tables` (bare names match in any schema). */
export function isToolVersionTable(qualified: string, tables: readonly string[]): boolean {
  const bare = qualified.slice(qualified.indexOf('.') + 1);
  return tables.some((table) => (table.includes('.') ? table === qualified : table === bare));
}

/**
 * `perTable` without the tool's version tables. Their writes are the migration's own bookkeeping
 * (the revision the rollback puts back), not application data a restore would lose.
 */
export function withoutToolTables<T>(perTable: Readonly<Record<string, T>>, migrator: Settings['migrator']): Record<string, T> {
  const tables = toolVersionTables(migrator);
  return Object.fromEntries(Object.entries(perTable).filter(([qualified]) => !isToolVersionTable(qualified, tables)));
}
