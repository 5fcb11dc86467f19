import path from 'node:path';
import { defineConfig } from 'vitest/config';

const venvBin = path.resolve('.venv/bin');

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/harness/globalSetup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two cores: more files at once only makes each wait for the shared server.
    maxWorkers: 2,
    // The project's Python venv (made by scripts/bootstrap.sh) provides the real alembic.
    env: { PATH: `${venvBin}${path.delimiter}${process.env.PATH ?? ''}` },
  },
});
