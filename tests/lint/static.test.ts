import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { lintStatic, type LintFinding } from '../../src/lint/index.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';
import { alembicOutOfBand, nodePgMigrateOutOfBand } from '../harness/tools.js';
import { contextFor, EXTRA, HEAD, projectWithMigration } from './helpers.js';

// Real Alembic renders each fixture migration offline, real squawk lints it against the real server's version.
describe('static lint with squawk', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('lint');
    await alembicOutOfBand(makeProject('alembic-project').migrationsDir, db.url, ['upgrade', 'head']);
  });
  afterAll(() => db.drop());

  async function lint(...statements: string[]): Promise<LintFinding[]> {
    const project = projectWithMigration(statements);
    return lintStatic(contextFor(project, db.url), parseDatabaseUrl(db.url), { from: HEAD, to: EXTRA });
  }

  const rules = (findings: readonly LintFinding[]) => findings.map((finding) => finding.rule);

  it('CREATE INDEX without CONCURRENTLY: require-concurrent-index-creation, blocking, with its link and statement', async () => {
    const findings = await lint('CREATE INDEX orders_total_idx ON orders (total_cents)');
    expect(rules(findings)).toEqual(['require-concurrent-index-creation']);
    expect(findings[0]).toMatchObject({
      source: 'static',
      severity: 'block',
      migration: EXTRA,
      table: 'orders',
      link: 'https://squawkhq.com/docs/require-concurrent-index-creation',
      sql: 'CREATE INDEX orders_total_idx ON orders (total_cents)',
    });
  });

  it('ADD COLUMN NOT NULL without a default: adding-required-field', async () => {
    const findings = await lint('ALTER TABLE orders ADD COLUMN note text NOT NULL');
    expect(rules(findings)).toContain('adding-required-field');
    expect(findings.find((finding) => finding.rule === 'adding-required-field')?.severity).toBe('block');
  });

  it('ADD FOREIGN KEY without NOT VALID: adding-foreign-key-constraint and constraint-missing-not-valid', async () => {
    const findings = await lint('ALTER TABLE orders ADD CONSTRAINT orders_user_fk2 FOREIGN KEY (user_id) REFERENCES users (id)');
    expect(rules(findings)).toEqual(expect.arrayContaining(['adding-foreign-key-constraint', 'constraint-missing-not-valid']));
    expect(findings.every((finding) => finding.table === 'orders')).toBe(true);
  });

  it('the same foreign key with NOT VALID is not flagged for the table scan', async () => {
    const findings = await lint('ALTER TABLE orders ADD CONSTRAINT orders_user_fk2 FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID');
    expect(rules(findings)).not.toContain('constraint-missing-not-valid');
  });

  it('SET NOT NULL: adding-not-nullable-field', async () => {
    const findings = await lint('ALTER TABLE orders ALTER COLUMN status SET NOT NULL');
    expect(rules(findings)).toEqual(['adding-not-nullable-field']);
    expect(findings[0]?.sql).toBe('ALTER TABLE orders ALTER COLUMN status SET NOT NULL');
  });

  it('a column type change: changing-column-type', async () => {
    const findings = await lint('ALTER TABLE orders ALTER COLUMN total_cents TYPE bigint');
    expect(rules(findings)).toEqual(['changing-column-type']);
    expect(findings[0]?.severity).toBe('block');
  });

  it('DROP COLUMN: ban-drop-column, a warning', async () => {
    const findings = await lint('ALTER TABLE orders DROP COLUMN status');
    expect(rules(findings)).toEqual(['ban-drop-column']);
    expect(findings[0]?.severity).toBe('warn');
  });

  it('a clean migration reports nothing', async () => {
    expect(await lint('ALTER TABLE orders ADD COLUMN note text', 'CREATE TABLE audit_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text)')).toEqual([]);
  });

  it('ADD COLUMN ... DEFAULT 5 is clean on a server that adds it without a rewrite (PostgreSQL 11+)', async () => {
    expect(await lint('ALTER TABLE orders ADD COLUMN priority bigint DEFAULT 5')).toEqual([]);
  });

  it('never points at alembic bookkeeping: linting from base skips CREATE TABLE alembic_version and its INSERT/UPDATEs', async () => {
    const fresh = await createTestDatabase('lintbase');
    try {
      const project = projectWithMigration(['CREATE INDEX orders_total_idx ON orders (total_cents)']);
      const findings = await lintStatic(contextFor(project, fresh.url), parseDatabaseUrl(fresh.url), { from: null, to: EXTRA });
      // Without the filter, alembic_version's VARCHAR(32) draws prefer-text-field on the first migration.
      expect(findings.filter((finding) => /alembic_version/i.test(finding.sql ?? ''))).toEqual([]);
      expect(rules(findings)).not.toContain('prefer-text-field');
      // The fixture's own serial/integer columns draw squawk's info-level advice, each under its migration.
      expect(new Set(findings.map((finding) => finding.migration))).toEqual(new Set(['001_create_users', '002_create_orders', EXTRA]));
      expect(findings.filter((finding) => finding.severity !== 'info').map((finding) => [finding.migration, finding.rule])).toEqual([[EXTRA, 'require-concurrent-index-creation']]);
    } finally {
      await fresh.drop();
    }
  });

  it('policy.severities overrides the table; "off" drops the rule', async () => {
    const project = projectWithMigration(['CREATE INDEX orders_total_idx ON orders (total_cents)', 'ALTER TABLE orders DROP COLUMN status'], [], {
      policy: { severities: { 'require-concurrent-index-creation': 'warn', 'ban-drop-column': 'off' } },
    });
    const findings = await lintStatic(contextFor(project, db.url), parseDatabaseUrl(db.url), { from: HEAD, to: EXTRA });
    expect(findings.map((finding) => [finding.rule, finding.severity])).toEqual([['require-concurrent-index-creation', 'warn']]);
  });
});

describe('static lint with node-pg-migrate', () => {
  it("splits the dry run at node-pg-migrate's markers: each finding names its migration, none points at pgmigrations", async () => {
    const db = await createTestDatabase('lintnpm');
    try {
      const project = makeProject('node-pg-migrate-project');
      await nodePgMigrateOutOfBand(project.migrationsDir, db.url, ['up']);
      writeFileSync(
        path.join(project.migrationsDir, 'migrations', '1700000000004_x.js'),
        "export const up = (pgm) => { pgm.sql('CREATE INDEX orders_total_idx ON orders (total_cents)'); };\nexport const down = (pgm) => { pgm.sql('DROP INDEX orders_total_idx'); };\n",
      );
      const findings = await lintStatic(contextFor(project, db.url), parseDatabaseUrl(db.url), { from: '1700000000003_add-order-status', to: '1700000000004_x' });
      expect(findings.filter((finding) => finding.severity !== 'info').map((finding) => [finding.migration, finding.rule, finding.sql])).toEqual([
        ['1700000000004_x', 'require-concurrent-index-creation', 'CREATE INDEX orders_total_idx ON orders (total_cents)'],
      ]);
      expect(findings.filter((finding) => /pgmigrations/.test(finding.sql ?? ''))).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});

describe('static lint with the command adapter', () => {
  it('lints the SQL files safety.sqlFiles names, and says which migrations it could not see', async () => {
    const db = await createTestDatabase('lintcmd');
    try {
      const project = makeProject('alembic-project', {
        migrator: {
          tool: 'command',
          commands: {
            upgrade: ['true'],
            downgrade: ['true'],
            current: ['echo', 'm1'],
            list: ['printf', 'm1 first\\nm2 second\\nm3 third\\n'],
          },
        },
        safety: { sqlFiles: { m2: 'sql/m2.sql' } },
      });
      mkdirSync(path.join(project.migrationsDir, 'sql'));
      writeFileSync(path.join(project.migrationsDir, 'sql', 'm2.sql'), 'ALTER TABLE orders ALTER COLUMN total_cents TYPE bigint;\n');
      const findings = await lintStatic(contextFor(project, db.url), parseDatabaseUrl(db.url), { from: 'm1', to: 'm3' });
      expect(findings.filter((finding) => finding.rule !== 'prefer-robust-stmts').map((finding) => [finding.migration, finding.rule, finding.severity])).toEqual([
        ['m2', 'changing-column-type', 'block'],
        ['m3', 'not-rendered', 'info'],
      ]);
    } finally {
      await db.drop();
    }
  });
});
