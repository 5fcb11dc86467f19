import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRunContext, type RunContext } from '../../src/context.js';
import { makeProject, type TestProject } from '../harness/project.js';

export const HEAD = '003_add_order_status';
export const EXTRA = '004_x';

/** Python string literal for one SQL statement (alembic's op.execute). */
function pythonString(sql: string): string {
  return JSON.stringify(sql);
}

/**
 * A copy of the alembic fixture with one more revision, 004_x, whose upgrade and downgrade run the
 * given SQL statements: one fixture migration per finding.
 */
export function projectWithMigration(upgrade: readonly string[], downgrade: readonly string[] = [], config: Record<string, unknown> = {}): TestProject {
  const project = makeProject('alembic-project', config);
  const body = (statements: readonly string[]) => (statements.length === 0 ? '    pass' : statements.map((sql) => `    op.execute(${pythonString(sql)})`).join('\n'));
  writeFileSync(
    path.join(project.migrationsDir, 'migrations', 'versions', `${EXTRA}.py`),
    `"""extra\n\nRevision ID: ${EXTRA}\nRevises: ${HEAD}\n"""\nfrom alembic import op\n\nrevision = "${EXTRA}"\ndown_revision = "${HEAD}"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n${body(upgrade)}\n\n\ndef downgrade():\n${body(downgrade)}\n`,
  );
  return project;
}

/** The run context the CLI would build in the project's directory, against `databaseUrl`. */
export function contextFor(project: TestProject, databaseUrl: string): RunContext {
  return createRunContext({
    command: 'lint',
    flags: { config: path.join(project.dir, 'orchestrate.config.json'), databaseUrl, logDir: path.join(project.dir, 'logs') },
    consoleLevel: 'error',
  });
}
