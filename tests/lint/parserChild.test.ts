import { afterEach, describe, expect, it, vi } from 'vitest';
import * as processModule from '../../src/exec/process.js';
import { ToolError } from '../../src/errors.js';
import { parseAll, parseStatements } from '../../src/lint/sql.js';

// The seam: the parser child's run. Everything else (the texts file, the reading of the answer) is real.
vi.mock('../../src/exec/process.js', async (importOriginal) => {
  const original = await importOriginal<typeof processModule>();
  return { ...original, runProgram: vi.fn(original.runProgram) };
});

const runProgram = vi.mocked(processModule.runProgram);

function failedRun(overrides: Partial<processModule.ProgramRun>): processModule.ProgramRun {
  return { command: 'node -e ...', exitCode: 1, signal: undefined, stdout: '', stderr: '', durationMs: 5, timedOut: false, cancelled: false, ok: false, ...overrides };
}

describe('the SQL parser child', () => {
  afterEach(() => runProgram.mockClear());

  it('parses every text of a batch in one child, syntax errors per text as before', async () => {
    const parsed = await parseAll(['ALTER TABLE orders DROP COLUMN note;', 'ALTER TABLE orders ADD COLUMNN x int;', '-- nothing but a comment\n']);
    expect(runProgram).toHaveBeenCalledTimes(1);
    expect(parsed.map((entry) => (entry.ok ? entry.statements.map((statement) => statement.kind) : 'error'))).toEqual([['AlterTableStmt'], 'error', []]);
    const failed = parsed[1];
    expect(failed?.ok === false && failed.error).toMatch(/syntax error/);
  });

  it('a child that crashes is an error of the run, never "no statements"', async () => {
    runProgram.mockResolvedValueOnce(failedRun({ exitCode: 134, stderr: 'RuntimeError: memory access out of bounds\n' }));
    const error = await parseStatements('DROP TABLE orders;').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).message).toBe('the SQL parser (libpg-query, in a child process) failed: RuntimeError: memory access out of bounds');
  });

  it('a child that times out, or answers for fewer texts, is an error too', async () => {
    runProgram.mockResolvedValueOnce(failedRun({ exitCode: undefined, signal: 'SIGTERM', timedOut: true }));
    await expect(parseStatements('DROP TABLE orders;')).rejects.toThrow(/SQL parser .* did not finish within 60 s/);
    runProgram.mockResolvedValueOnce(failedRun({ exitCode: 0, ok: true, stdout: '[]' }));
    await expect(parseStatements('DROP TABLE orders;')).rejects.toThrow(/answered for 0 of 1 texts/);
    runProgram.mockResolvedValueOnce(failedRun({ exitCode: 0, ok: true, stdout: 'Segmentation fault' }));
    await expect(parseStatements('DROP TABLE orders;')).rejects.toThrow(/printed something other than its answers/);
    runProgram.mockResolvedValueOnce(failedRun({ exitCode: 0, ok: true, stdout: '[{}]' }));
    await expect(parseStatements('DROP TABLE orders;')).rejects.toThrow(/printed something other than its answers/);
  });
});
