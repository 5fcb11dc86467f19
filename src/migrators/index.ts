import type { Settings } from '../config/settings.js';
import { UsageError } from '../errors.js';
import { AlembicMigrator } from './alembic.js';
import { CommandMigrator } from './command.js';
import { NodePgMigrateMigrator } from './nodePgMigrate.js';
import type { Migrator } from './types.js';


/** The adapter the configuration names. `cwd` must already be absolute. */
export function createMigrator(config: Settings['migrator']): Migrator {
  switch (config.tool) {
    case 'alembic':
      return new AlembicMigrator({ executable: config.executable ?? ['alembic'], cwd: config.cwd, urlEnv: config.urlEnv, urlScheme: config.urlScheme });
    case 'node-pg-migrate':
      return new NodePgMigrateMigrator({
        executable: config.executable,
        cwd: config.cwd,
        urlEnv: config.urlEnv,
        migrationsDir: config.migrationsDir,
        migrationsTable: config.migrationsTable,
      });
    case 'command':
      if (!config.commands) throw new UsageError('migrator.tool is "command" but migrator.commands is not configured');
      return new CommandMigrator({ cwd: config.cwd, urlEnv: config.urlEnv, urlScheme: config.urlScheme }, config.commands);
  }
}

export type { Migrator, Migration, MigrationState, ToolSession } from './types.js';
