import { describe, expect, it } from 'vitest';
import { createStepView, type TerminalStream } from '../../src/log/stepView.js';

const CONTROL = /\u001b|\r/;

function capture(isTTY: boolean): TerminalStream & { text: () => string } {
  const chunks: string[] = [];
  return { isTTY, columns: 100, write: (chunk: string) => (chunks.push(chunk), true), text: () => chunks.join('') };
}

const line = (fields: Record<string, unknown>) => JSON.stringify({ level: 30, time: '2026-12-01T02:00:00.000Z', runId: 'abc', command: 'upgrade', ...fields });
const started = (step: string) => line({ step, msg: `${step}: started` });
const finished = (step: string, status: string, durationMs: number, extra: Record<string, unknown> = {}) => line({ step, durationMs, msg: `${step}: ${status}`, ...extra });

const RUN = [
  started('preflight'),
  line({ msg: 'scratch database dropped', database: 'x' }),
  finished('preflight', 'succeeded', 1234, { detail: 'apply 1 migration' }),
  started('backup'),
  line({ event: 'dump.progress', msg: 'dump: 12.0 MB written (estimate at most 40.0 MB), 3s' }),
  finished('backup', 'succeeded', 812, { detail: 'b-1 (19.5 kB, verified)' }),
  started('migrate'),
  line({ level: 40, msg: 'production attempt 1: lock timeout', result: 'lock timeout' }),
  line({ level: 50, step: 'migrate', durationMs: 2500, msg: 'migrate: failed', error: 'the production migration failed:\n  boom' }),
  finished('validate', 'skipped', 0, { detail: 'not run: migrate failed' }),
  line({ level: 50, msg: 'migrate failed: boom. rolled back', outcome: 'rolled-back', exitCode: 6 }),
];

describe('the step view when the terminal is not a TTY', () => {
  it('prints one plain line per finished step, progress and warnings, and no control codes', () => {
    const stream = capture(false);
    const view = createStepView(stream);
    for (const event of RUN) view.write(event);
    view.close();
    const text = stream.text();
    expect(text).not.toMatch(CONTROL);
    expect(text.split('\n').filter(Boolean)).toEqual([
      'preflight     ok        1.2 s  apply 1 migration',
      'dump: 12.0 MB written (estimate at most 40.0 MB), 3s',
      'backup        ok       812 ms  b-1 (19.5 kB, verified)',
      'warning: production attempt 1: lock timeout',
      'migrate       FAILED    2.5 s  the production migration failed: boom',
      'validate      skipped    0 ms  not run: migrate failed',
    ]);
  });
});

describe('the step view on a TTY', () => {
  it('draws the steps in place, ends with ticks and crosses, and stops drawing once closed', () => {
    const stream = capture(true);
    let clock = 0;
    const view = createStepView(stream, () => clock);
    for (const event of RUN) {
      view.write(event);
      clock += 100;
    }
    view.close();
    const text = stream.text();
    // Redrawn in place: cursor movements and line erasures, not a growing stream of lines.
    expect(text).toMatch(/\u001b\[\d*[AK]|\u001b\[2K/);
    const finalFrame = text.split(/\u001b\[[0-9;?]*[A-Za-z]/).join('');
    expect(finalFrame).toContain('✔ preflight       1.2 s  apply 1 migration');
    expect(finalFrame).toContain('✖ migrate         2.5 s  the production migration failed: boom');
    // A warning is shown indented under the step it happened in, not above the steps.
    expect(finalFrame).toContain('\n    ⚠ production attempt 1: lock timeout');
    expect(finalFrame).not.toMatch(/^⚠ production attempt/m);
    // The run's closing event is the summary's to tell.
    expect(finalFrame).not.toContain('rolled back');
    // Closed: later events (another command's, a late warning) do not redraw it.
    view.write(started('late'));
    expect(stream.text()).toBe(text);
  });
});
