import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Seed 003's check_schema_references: before a column or table is dropped or renamed, list the source
 * files that still mention it, because the application running against the migrated schema breaks
 * on them. A plain word search: it errs towards listing a file too many, never one too few.
 */

export interface CodeReference {
  readonly name: string;
  /** Files mentioning the name as a whole word, sorted. */
  readonly files: readonly string[];
}

export interface ReferenceSearchOptions {
  /** File or directory names (`migrations`) or absolute paths to skip. */
  readonly ignore?: readonly string[];
  /** Larger files are skipped. */
  readonly maxFileBytes?: number;
}

/** Directories that hold no hand-written source: dependencies, VCS data, caches, virtualenvs. */
const SKIPPED_DIRECTORIES = new Set(['node_modules', '.git', '.hg', '.svn', '__pycache__', '.venv', 'venv', '.tox', '.mypy_cache', '.pytest_cache']);
const DEFAULT_MAX_FILE_BYTES = 1_048_576;
/** A NUL byte in the first few KB is how git and grep tell a binary file too. */
const BINARY_SNIFF_BYTES = 8000;

async function* sourceFiles(dir: string, ignore: ReadonlySet<string>): AsyncGenerator<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (ignore.has(entry.name) || ignore.has(full)) continue;
    // Symbolic links are not followed: a link back up the tree would loop, and its target is searched where it lives.
    if (entry.isDirectory() && !SKIPPED_DIRECTORIES.has(entry.name)) yield* sourceFiles(full, ignore);
    else if (entry.isFile()) yield full;
  }
}

async function readText(file: string, maxBytes: number): Promise<string | undefined> {
  const info = await stat(file).catch(() => undefined);
  if (!info || info.size > maxBytes) return undefined;
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const content = await handle.readFile();
    if (content.subarray(0, BINARY_SNIFF_BYTES).includes(0)) return undefined;
    return content.toString('utf8');
  } finally {
    await handle.close();
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * For each name, the files under `sourceDirs` that mention it as a whole word (`status` matches
 * `order.status` and `"status"`, not `order_status`). Names are matched case-sensitively: PostgreSQL
 * folds unquoted identifiers to lower case, and that is how code spells them.
 */
export async function findCodeReferences(sourceDirs: readonly string[], names: readonly string[], options: ReferenceSearchOptions = {}): Promise<CodeReference[]> {
  const unique = [...new Set(names.filter((name) => name.length > 0))];
  const found = new Map<string, string[]>(unique.map((name) => [name, []]));
  if (unique.length === 0) return [];
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}_$])(${unique.map(escapeRegExp).join('|')})(?![\\p{L}\\p{N}_$])`, 'gu');
  const ignore = new Set(options.ignore ?? []);
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const seen = new Set<string>();
  for (const dir of sourceDirs) {
    for await (const file of sourceFiles(path.resolve(dir), ignore)) {
      if (seen.has(file)) continue;
      seen.add(file);
      const text = await readText(file, maxBytes);
      if (text === undefined) continue;
      const mentioned = new Set<string>();
      for (const match of text.matchAll(pattern)) if (match[1]) mentioned.add(match[1]);
      for (const name of mentioned) found.get(name)?.push(file);
    }
  }
  return unique.map((name) => ({ name, files: (found.get(name) ?? []).sort() }));
}
