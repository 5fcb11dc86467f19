import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderShellTable } from '../../src/commands/exitCodes.js';
import { EXIT_CODES, ExitCode } from '../../src/errors.js';
import { classify } from '../../src/notify/event.js';
import { REPO_ROOT, runCli } from '../harness/cli.js';

const rows = Object.values(EXIT_CODES);
const read = (relative: string) => readFileSync(path.join(REPO_ROOT, relative), 'utf8');

describe('the one exit-code table', () => {
  it('has a row for every exit code, under its own name', () => {
    expect(rows.map((row) => row.code)).toEqual(Object.values(ExitCode));
    for (const row of rows) expect(ExitCode[row.name]).toBe(row.code);
  });

  it('is what the webhook classification says', () => {
    for (const row of rows) expect(classify(row.code)).toEqual({ kind: row.kind, severity: row.severity, meaning: `${row.meaning}; production: ${row.production}` });
    expect(classify(137)).toMatchObject({ kind: 'failed', severity: 'critical', meaning: expect.stringMatching(/not an orchestrate exit code/) });
  });

  it('is what scripts/lib/exit-codes.sh, which deploy.sh reads, holds (regenerate: orchestrate exit-codes --shell)', () => {
    expect(read('scripts/lib/exit-codes.sh')).toBe(renderShellTable());
  });

  it('is printed by `orchestrate exit-codes --json`, with no configuration at all', async () => {
    const result = await runCli(['exit-codes', '--json'], { cwd: '/' });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(rows);
  });

  it('is what the CLI error boundary reports with --json', async () => {
    const result = await runCli(['upgrade', '--json', '--dry-runn'], { cwd: '/' });
    expect(result.exitCode).toBe(ExitCode.Usage);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, exitCode: 2, meaning: EXIT_CODES[2].meaning, production: EXIT_CODES[2].production });
  });

  it('agrees with the tables of the README and docs/operations.md', () => {
    for (const [file, pattern] of [
      ['README.md', (code: number) => new RegExp(`^\\| ${code} \\| .*\\| (\\*\\*)?(.+?)(\\*\\*)? \\|$`, 'm')],
      ['docs/operations.md', (code: number) => new RegExp(`^\\| ${code} \\| [^|]+ \\| (\\*\\*)?(.+?)(\\*\\*)? \\| .+ \\|$`, 'm')],
    ] as const) {
      const text = read(file);
      for (const row of rows) expect(pattern(row.code).exec(text)?.[2], `${file}, exit ${row.code}`).toBe(row.production);
    }
  });

  it('is the only place in the sources that spells the meanings out', () => {
    const spelled = rows.filter((row) => row.meaning.length > 30).map((row) => row.meaning);
    for (const file of ['scripts/deploy.sh', 'src/notify/event.ts', 'src/commands/handlers/migration.ts', 'src/report/runReport.ts', 'src/cli.ts', 'src/demo/demo.ts']) {
      const text = read(file);
      for (const meaning of spelled) expect(text, file).not.toContain(meaning);
      expect(text, file).not.toContain('NEEDS A HUMAN');
    }
  });
});
