/**
 * A short unified diff of two definitions (a function body, a view, a constraint): what a person
 * reads to see how two versions of one object differ, instead of two hashes or two long lines.
 */

export interface UnifiedDiffOptions {
  /** Unchanged lines shown around each change. Default 2. */
  readonly context?: number;
  /** Longest output, in lines after the two header lines; the rest is summarised. Default 20. */
  readonly maxLines?: number;
}

type Op = { readonly kind: ' ' | '-' | '+'; readonly line: string };

/** Above this many cells the middle is shown as removed then added, without aligning it line by line. */
const MAX_TABLE_CELLS = 4_000_000;

/** The edit script from `a` to `b`: a longest common subsequence of lines, common prefix and suffix first. */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix += 1;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix += 1;
  const midA = a.slice(prefix, a.length - suffix);
  const midB = b.slice(prefix, b.length - suffix);
  const ops: Op[] = a.slice(0, prefix).map((line) => ({ kind: ' ', line }));
  if (midA.length * midB.length > MAX_TABLE_CELLS) {
    ops.push(...midA.map((line): Op => ({ kind: '-', line })), ...midB.map((line): Op => ({ kind: '+', line })));
  } else {
    // lcs[i][j]: length of the longest common subsequence of midA[i..] and midB[j..].
    const width = midB.length + 1;
    const lcs = new Uint32Array((midA.length + 1) * width);
    for (let i = midA.length - 1; i >= 0; i -= 1) {
      for (let j = midB.length - 1; j >= 0; j -= 1) {
        lcs[i * width + j] = midA[i] === midB[j] ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
      }
    }
    let i = 0;
    let j = 0;
    while (i < midA.length || j < midB.length) {
      if (i < midA.length && j < midB.length && midA[i] === midB[j]) {
        ops.push({ kind: ' ', line: midA[i] ?? '' });
        i += 1;
        j += 1;
      } else if (i < midA.length && (j === midB.length || (lcs[(i + 1) * width + j] ?? 0) >= (lcs[i * width + j + 1] ?? 0))) {
        // Removed lines before added ones, as diff prints them.
        ops.push({ kind: '-', line: midA[i] ?? '' });
        i += 1;
      } else {
        ops.push({ kind: '+', line: midB[j] ?? '' });
        j += 1;
      }
    }
  }
  ops.push(...a.slice(a.length - suffix).map((line): Op => ({ kind: ' ', line })));
  return ops;
}

const range = (start: number, count: number) => (count === 1 ? `${start}` : `${count === 0 ? start - 1 : start},${count}`);

/**
 * `--- labelA` / `+++ labelB` and the hunks that differ, with `context` lines around each. Lines are
 * split at newlines; trailing whitespace is kept. Empty when the texts are equal.
 */
export function unifiedDiff(a: string, b: string, labels: { readonly a: string; readonly b: string }, options: UnifiedDiffOptions = {}): string[] {
  if (a === b) return [];
  const context = options.context ?? 2;
  const maxLines = options.maxLines ?? 20;
  const ops = editScript(a.split('\n'), b.split('\n'));
  const changed = ops.map((op, index) => (op.kind === ' ' ? -1 : index)).filter((index) => index >= 0);
  // Hunks: runs of changes whose context windows touch.
  const hunks: [number, number][] = [];
  for (const index of changed) {
    const last = hunks.at(-1);
    if (last && index - context <= last[1] + context + 1) last[1] = index;
    else hunks.push([index, index]);
  }
  const out = [`--- ${labels.a}`, `+++ ${labels.b}`];
  const body: string[] = [];
  for (const [first, last] of hunks) {
    const start = Math.max(0, first - context);
    const end = Math.min(ops.length - 1, last + context);
    const before = ops.slice(0, start);
    const slice = ops.slice(start, end + 1);
    const lineA = before.filter((op) => op.kind !== '+').length + 1;
    const lineB = before.filter((op) => op.kind !== '-').length + 1;
    const countA = slice.filter((op) => op.kind !== '+').length;
    const countB = slice.filter((op) => op.kind !== '-').length;
    body.push(`@@ -${range(lineA, countA)} +${range(lineB, countB)} @@`, ...slice.map((op) => `${op.kind}${op.line}`));
  }
  if (body.length > maxLines) {
    const hidden = body.length - maxLines;
    return [...out, ...body.slice(0, maxLines), `… ${hidden} more line${hidden === 1 ? '' : 's'}`];
  }
  return [...out, ...body];
}
