import type { RunContext } from '../context.js';
import type { DbTarget } from '../db/target.js';
import { analyzeDestructive } from './destructive.js';
import { renderDowngrades } from './render.js';
import { parserFor } from './sql.js';
import type { DestructiveChange } from './types.js';

/** What a downgrade or rollback would lose, or why that cannot be known before running it. */
export type DowngradeAnalysis =
  | { readonly known: true; readonly changes: readonly DestructiveChange[] }
  | { readonly known: false; readonly reason: string };

/**
 * The destructive changes of a downgrade from `range.from` to `range.to` (null: base), each naming
 * the migration whose downgrade makes it, with the rows at stake now. Tools that cannot render a
 * downgrade offline give `known: false`: the caller must then treat the loss as unknown, not as none.
 */
export async function analyzeDowngrade(context: RunContext, target: DbTarget, range: { from: string; to: string | null }): Promise<DowngradeAnalysis> {
  const rendered = await renderDowngrades(context, target, range);
  if (rendered === undefined) {
    return { known: false, reason: `${context.settings.migrator.tool} cannot render a downgrade's SQL without running it` };
  }
  const parse = await parserFor(rendered.map((entry) => entry.sql));
  const changes: DestructiveChange[] = [];
  for (const entry of rendered) {
    if (entry.sql !== undefined) changes.push(...(await analyzeDestructive(context, target, entry.sql, entry.migration, parse)));
  }
  return { known: true, changes };
}
