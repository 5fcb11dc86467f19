import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/cli.js';

interface LockPackage {
  readonly version?: string;
  readonly optional?: boolean;
  readonly os?: readonly string[];
  readonly cpu?: readonly string[];
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
}

const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };

describe('the lock file installs with npm ci on every platform', () => {
  it('pins squawk-cli to a version whose every platform package is in the lock', () => {
    const pinned = manifest.dependencies['squawk-cli'];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const squawk = lock.packages['node_modules/squawk-cli'];
    expect(squawk?.version).toBe(pinned);
    const platforms = Object.keys(squawk?.optionalDependencies ?? {});
    expect(platforms).toHaveLength(5);
    for (const name of platforms) {
      // npm ci refuses a lock that leaves out an optional platform package ("out of sync").
      expect(lock.packages[`node_modules/${name}`], name).toMatchObject({ version: pinned, optional: true });
    }
  });

  it('lists exactly the declared dependencies at the root, and no fs-extra', () => {
    const root = lock.packages[''];
    expect(root?.dependencies).toEqual(manifest.dependencies);
    expect(root?.devDependencies).toEqual(manifest.devDependencies);
    expect(Object.keys(manifest.dependencies)).not.toContain('fs-extra');
  });
});
