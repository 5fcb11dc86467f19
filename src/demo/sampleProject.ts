import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The demo's sample application: a small shop schema as an Alembic project (or node-pg-migrate when
 * Python is not there). Migrations are written one batch at a time, as a team would add them.
 */
export type DemoTool = 'alembic' | 'node-pg-migrate';

interface DemoMigration {
  readonly id: string;
  readonly description: string;
  readonly up: string;
  readonly down: string;
}

export const BASELINE: readonly DemoMigration[] = [
  {
    id: '001_customers',
    description: 'create customers',
    up: 'CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())',
    down: 'DROP TABLE customers',
  },
  {
    id: '002_orders',
    description: 'create orders',
    up: 'CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id), total_cents integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now())',
    down: 'DROP TABLE orders',
  },
];

/** A good migration: it rehearses, migrates and validates. */
export const GOOD: readonly DemoMigration[] = [
  {
    id: '003_order_status',
    description: 'add order status',
    up: "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'paid'",
    down: 'ALTER TABLE orders DROP COLUMN status',
  },
];

/**
 * Two migrations that pass the rehearsal but fail in production: 005 needs an ACCESS EXCLUSIVE lock on
 * orders while a long report holds ACCESS SHARE there, so it hits lock_timeout after 004 was applied.
 */
export const BLOCKED: readonly DemoMigration[] = [
  {
    id: '004_loyalty_points',
    description: 'add loyalty points',
    up: 'ALTER TABLE customers ADD COLUMN loyalty_points integer NOT NULL DEFAULT 0',
    down: 'ALTER TABLE customers DROP COLUMN loyalty_points',
  },
  {
    id: '005_order_total_check',
    description: 'orders total must not be negative',
    up: 'ALTER TABLE orders ADD CONSTRAINT orders_total_not_negative CHECK (total_cents >= 0)',
    down: 'ALTER TABLE orders DROP CONSTRAINT orders_total_not_negative',
  },
];

const ALEMBIC_INI = `[alembic]
script_location = migrations
sqlalchemy.url =

[loggers]
keys = root,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
`;

const ENV_PY = `import os

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
# orchestrate passes the target database in DATABASE_URL (password in PGPASSWORD, never in argv).
url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1)
config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    engine = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
`;

function pyString(sql: string): string {
  return JSON.stringify(sql);
}

export function writeMigrations(dir: string, tool: DemoTool, migrations: readonly DemoMigration[], previous: string | null): void {
  if (tool === 'alembic') {
    const versions = path.join(dir, 'migrations', 'versions');
    mkdirSync(versions, { recursive: true });
    writeFileSync(path.join(dir, 'alembic.ini'), ALEMBIC_INI);
    writeFileSync(path.join(dir, 'migrations', 'env.py'), ENV_PY);
    let down = previous;
    for (const migration of migrations) {
      writeFileSync(
        path.join(versions, `${migration.id}.py`),
        `"""${migration.description}"""\nfrom alembic import op\n\nrevision = "${migration.id}"\ndown_revision = ${down ? `"${down}"` : 'None'}\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute(${pyString(migration.up)})\n\n\ndef downgrade():\n    op.execute(${pyString(migration.down)})\n`,
      );
      down = migration.id;
    }
    return;
  }
  const migrationsDir = path.join(dir, 'migrations');
  mkdirSync(migrationsDir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  for (const migration of migrations) {
    const [number, ...rest] = migration.id.split('_');
    writeFileSync(
      path.join(migrationsDir, `${1700000000000 + Number(number)}_${rest.join('-')}.js`),
      `export const up = (pgm) => pgm.sql(${JSON.stringify(migration.up)});\nexport const down = (pgm) => pgm.sql(${JSON.stringify(migration.down)});\n`,
    );
  }
}
