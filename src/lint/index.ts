/** The safety analysis: what the pipeline and the `lint` command call. */
export { lintStatic, lintRendered, previewFailure, serverVersion } from './static.js';
export { lintMigrations, type LintReport } from './lint.js';
export { analyzeDestructive, describeChange, describeLoss, sqlChanges, type Rename } from './destructive.js';
export { analyzeDowngrade, type DowngradeAnalysis } from './downgrade.js';
export { renderUpgrades, renderDowngrades, type RenderedMigration } from './render.js';
export { findCodeReferences, type CodeReference, type ReferenceSearchOptions } from './codeReferences.js';
export { judgeRehearsal, blockingFindings, enforcePolicy, type RehearsalTrace, type RehearsalPolicy, type Override } from './policy.js';
export { DEFAULT_SEVERITIES, severityTable, type RuleSeverity } from './severities.js';
export type { LintFinding, DestructiveChange, DestructiveKind, Severity } from './types.js';
