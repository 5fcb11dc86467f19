import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/cli.js';

/**
 * An archive's checksum must not cost memory in proportion to its size: the backup step and every
 * restore hash the whole archive, and peak RSS is to stay flat from 10 MB to 1 GB. Measured in a
 * fresh Node process (VmHWM before and after hashing a 400 MB file) so nothing else in the test
 * runner's heap blurs it. A read stream (a new buffer per 64 kB chunk, freed only when the garbage
 * collector gets to it) raised the peak by ~40 MB for 600 MB; one reused buffer by ~4 MB.
 */
describe('checksum of a large archive', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-checksum-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the process peak memory flat and hashes correctly', async () => {
    const file = path.join(dir, 'archive.bin');
    const bytes = 400 * 1024 * 1024;
    // Sparse: reads return zeros without the disk; what is measured is the reader's memory, not I/O.
    writeFileSync(file, '');
    truncateSync(file, bytes);
    const script = `
      import { readFileSync } from 'node:fs';
      const peakMb = () => Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
      const { sha256File } = await import(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'backup', 'files.js'))});
      const before = peakMb();
      const sha256 = await sha256File(${JSON.stringify(file)});
      process.stdout.write(JSON.stringify({ sha256, grewMb: peakMb() - before }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    const { sha256, grewMb } = JSON.parse(stdout) as { sha256: string; grewMb: number };
    const expected = createHash('sha256');
    const zeros = Buffer.alloc(1024 * 1024);
    for (let done = 0; done < bytes; done += zeros.length) expected.update(zeros);
    expect(sha256).toBe(expected.digest('hex'));
    expect(grewMb).toBeLessThan(16);
  });
});
