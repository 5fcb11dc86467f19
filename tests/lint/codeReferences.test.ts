import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { findCodeReferences, lintMigrations } from '../../src/lint/index.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';
import { alembicOutOfBand } from '../harness/tools.js';
import { contextFor, EXTRA, HEAD, projectWithMigration } from './helpers.js';

function write(root: string, file: string, content: string | Buffer): string {
  const full = path.join(root, file);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, content);
  return full;
}

describe('findCodeReferences', () => {
  it('lists the files that mention a name as a word, skipping dependencies, VCS data, binaries and big files', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'refs-'));
    const reader = write(root, 'app/orders.py', 'def label(order):\n    return order.status.upper()\n');
    const sqlReader = write(root, 'app/queries/report.sql', 'SELECT id, "status" FROM orders;\n');
    write(root, 'app/other.py', 'order_status = 1  # a different name\nstatus_code = 2\n');
    write(root, 'node_modules/lib/index.js', 'module.exports = (o) => o.status;\n');
    write(root, '.git/COMMIT_EDITMSG', 'drop status\n');
    write(root, 'app/blob.bin', Buffer.concat([Buffer.from('status'), Buffer.from([0, 1, 2])]));
    write(root, 'app/big.json', `{"status": "${'x'.repeat(2048)}"}`);
    write(root, 'migrations/versions/003.py', 'op.drop_column("orders", "status")\n');

    const [status, unused] = await findCodeReferences([path.join(root, 'app'), root], ['status', 'legacy_flag'], {
      maxFileBytes: 1024,
      ignore: ['migrations'],
    });
    expect(status).toEqual({ name: 'status', files: [reader, sqlReader].sort() });
    expect(unused).toEqual({ name: 'legacy_flag', files: [] });
  });
});

describe('code reference check in the lint', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('refs');
    await alembicOutOfBand(makeProject('alembic-project').migrationsDir, db.url, ['upgrade', 'head']);
  });
  afterAll(() => db.drop());

  async function lintWith(codeReferences?: 'warn' | 'block') {
    const project = projectWithMigration(['ALTER TABLE orders DROP COLUMN status', 'ALTER TABLE users RENAME COLUMN email TO email_address'], [], {
      safety: { sourceDirs: ['src'], ...(codeReferences ? { codeReferences } : {}) },
    });
    write(project.dir, 'src/orders.py', 'def shipped(order):\n    return order.status == "shipped"\n');
    write(project.dir, 'src/mailer.py', 'def send(user):\n    smtp.send(user.email)\n');
    write(project.dir, 'src/unrelated.py', 'print("hello")\n');
    return lintMigrations(contextFor(project, db.url), parseDatabaseUrl(db.url), { from: HEAD, to: EXTRA });
  }

  it('warns, naming the source file that still reads the dropped column, and the one using the renamed one', async () => {
    const report = await lintWith();
    const references = report.findings.filter((finding) => finding.source === 'code-reference');
    expect(references.map((finding) => [finding.severity, finding.migration, finding.message])).toEqual([
      ['warn', EXTRA, 'column orders.status is dropped but "status" still appears in src/orders.py'],
      ['warn', EXTRA, 'column users.email is renamed to email_address but "email" still appears in src/mailer.py'],
    ]);
    expect(report.codeReferences).toEqual([
      { name: 'status', files: ['src/orders.py'], migration: EXTRA },
      { name: 'email', files: ['src/mailer.py'], migration: EXTRA },
    ]);
  });

  it('blocks when safety.codeReferences is "block"', async () => {
    const report = await lintWith('block');
    expect(report.findings.filter((finding) => finding.source === 'code-reference').map((finding) => finding.severity)).toEqual(['block', 'block']);
  });
});
