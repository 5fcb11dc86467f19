import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject, type TestProject } from '../harness/project.js';

/**
 * What a command loads and holds: every Node process the CLI starts runs a preload (NODE_OPTIONS
 * --import) that appends `<pid> script <argv[1]>` at its start, `<pid> module <url>` for each module
 * loaded (through a module.register hook, when asked) and `<pid> maxrss <kB>` at exit to one file.
 * The orchestrate process is the one running dist/cli.js; the SQL parser's child is another.
 */
interface ProcessRecord {
  script: string;
  readonly modules: string[];
  maxRssKb: number;
}

/** Packages a command line that only asks yargs something must not load. */
const HEAVY_PACKAGES = ['libpg-query', 'prom-client', 'pg', 'zod', 'pino', 'node-cron', 'tar', 'log-update', 'execa'];

function packageOf(url: string): string | undefined {
  const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  return match?.[1];
}

describe('what the CLI loads at start-up and holds', () => {
  let dir: string;
  let db: TestDatabase;
  let project: TestProject;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-startup-'));
    writeFileSync(
      path.join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.STARTUP_RECORD, process.pid + ' module ' + url + '\\n');
  return next(url, context);
}
`,
    );
    writeFileSync(
      path.join(dir, 'preload.mjs'),
      `import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
if (process.env.STARTUP_HOOKS === '1') register(${JSON.stringify(new URL(`file://${path.join(dir, 'hooks.mjs')}`).href)});
appendFileSync(process.env.STARTUP_RECORD, process.pid + ' script ' + (process.argv[1] ?? '-e') + '\\n');
process.on('exit', () => appendFileSync(process.env.STARTUP_RECORD, process.pid + ' maxrss ' + process.resourceUsage().maxRSS + '\\n'));
`,
    );
    db = await createTestDatabase('startup');
    project = makeProject('alembic-project');
  });
  afterAll(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the CLI under the preload; returns its result and the orchestrate process's record. */
  async function traced(args: readonly string[], options: { hooks: boolean; cwd?: string }) {
    const record = path.join(dir, `record-${Math.random().toString(16).slice(2)}.txt`);
    writeFileSync(record, '');
    const result = await runCli(args, {
      cwd: options.cwd ?? dir,
      env: { DATABASE_URL: db.url, NODE_OPTIONS: `--import ${path.join(dir, 'preload.mjs')}`, STARTUP_RECORD: record, STARTUP_HOOKS: options.hooks ? '1' : '0' },
    });
    const byPid = new Map<string, ProcessRecord>();
    for (const line of readFileSync(record, 'utf8').split('\n').filter(Boolean)) {
      const [pid = '', kind, ...rest] = line.split(' ');
      const entry = byPid.get(pid) ?? { script: '', modules: [], maxRssKb: 0 };
      byPid.set(pid, entry);
      if (kind === 'script') entry.script = rest.join(' ');
      else if (kind === 'module') entry.modules.push(rest.join(' '));
      else entry.maxRssKb = Number(rest[0]);
    }
    const processes = [...byPid.values()];
    const cli = processes.find((entry) => entry.script.endsWith(`${path.sep}dist${path.sep}cli.js`));
    if (!cli) throw new Error(`no record of the orchestrate process (${result.stderr})`);
    return { result, cli, processes };
  }

  it.each([
    ['--version', 0],
    ['--help', 0],
    ['upgrade --dry-runn', 2],
  ])('orchestrate %s loads yargs and the command definitions, none of the heavy packages', async (line, exitCode) => {
    const { result, cli } = await traced(line.split(' '), { hooks: true });
    expect(result.exitCode).toBe(exitCode);
    const loaded = new Set(cli.modules.map(packageOf).filter((name) => name !== undefined));
    expect(loaded.has('yargs')).toBe(true);
    for (const heavy of HEAVY_PACKAGES) expect(loaded.has(heavy), heavy).toBe(false);
    expect(cli.modules.filter((url) => /\/dist\/(pipeline|lint|daemon|backup|db)\//.test(url))).toEqual([]);
  });

  it('upgrade --dry-run parses the SQL in a child process: orchestrate itself never loads libpg-query', async () => {
    const { result, cli, processes } = await traced(['upgrade', '--dry-run'], { hooks: true, cwd: project.dir });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(cli.modules.some((url) => packageOf(url) === 'pg')).toBe(true);
    expect(cli.modules.some((url) => packageOf(url) === 'libpg-query')).toBe(false);
    // The lint ran: its parser child (`node -e SCRIPT <libpg-query's entry> <texts>`) was started.
    expect(processes.some((entry) => entry !== cli && packageOf(entry.script) === 'libpg-query')).toBe(true);
  });

  it('upgrade --dry-run stays well under the 120 MB the whole run may take', async () => {
    const { result, cli } = await traced(['upgrade', '--dry-run'], { hooks: false, cwd: project.dir });
    expect(result.exitCode, result.stderr).toBe(0);
    // About 100 MB measured; 140-150 MB when the parser and every command's modules loaded in-process.
    expect(cli.maxRssKb / 1024).toBeLessThan(125);
  });
});
