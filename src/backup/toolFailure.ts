import { lastLines, type ProgramRun } from '../exec/process.js';

/** The reason a pg tool gave, in one line: its `error:` lines (verbose output buries them), else its last line. */
export function toolFailure(run: ProgramRun): string {
  const errors = run.stderr
    .split('\n')
    .filter((line) => /\berror:|\bFATAL:/.test(line))
    .map((line) => line.replace(/^pg_(dump|restore): error: /, '').trim());
  if (errors.length > 0) return errors.slice(0, 3).join(' | ');
  if (run.timedOut) return 'timed out';
  if (run.cancelled) return 'cancelled';
  return lastLines(run.stderr || run.stdout) || `exit code ${run.exitCode ?? run.signal ?? 'unknown'}`;
}
