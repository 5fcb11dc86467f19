import { describe, expect, it } from 'vitest';
import type { Settings } from '../../src/config/settings.js';
import { toolVersionTables, withoutToolTables } from '../../src/migrators/versionTables.js';

const migrator = (extra: Partial<Settings['migrator']>): Settings['migrator'] =>
  ({ tool: 'alembic', cwd: '/app', urlEnv: 'DATABASE_URL', migrationsDir: 'migrations', migrationsTable: 'pgmigrations', ...extra }) as Settings['migrator'];

const window = {
  'public.alembic_version': { inserted: 0, updated: 2, deleted: 0 },
  'public.pgmigrations': { inserted: 1, updated: 0, deleted: 0 },
  'meta.schema_history': { inserted: 1, updated: 0, deleted: 0 },
  'public.schema_history': { inserted: 3, updated: 0, deleted: 0 },
  'public.orders': { inserted: 40, updated: 0, deleted: 0 },
};

describe("the migration tool's own version table", () => {
  it('is alembic_version, migrationsTable, or migrator.versionTable', () => {
    expect(toolVersionTables(migrator({}))).toEqual(['alembic_version']);
    expect(toolVersionTables(migrator({ versionTable: 'meta.schema_history' }))).toEqual(['meta.schema_history']);
    expect(toolVersionTables(migrator({ tool: 'node-pg-migrate' }))).toEqual(['pgmigrations']);
    expect(toolVersionTables(migrator({ tool: 'command' }))).toEqual([]);
  });

  it('is left out of a per-table data-loss window: a bare name in any schema, a qualified one exactly', () => {
    expect(Object.keys(withoutToolTables(window, migrator({})))).toEqual(['public.pgmigrations', 'meta.schema_history', 'public.schema_history', 'public.orders']);
    expect(Object.keys(withoutToolTables(window, migrator({ tool: 'node-pg-migrate' })))).toEqual(['public.alembic_version', 'meta.schema_history', 'public.schema_history', 'public.orders']);
    expect(Object.keys(withoutToolTables(window, migrator({ tool: 'command', versionTable: 'meta.schema_history' })))).toEqual(['public.alembic_version', 'public.pgmigrations', 'public.schema_history', 'public.orders']);
  });
});
