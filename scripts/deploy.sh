#!/usr/bin/env bash
# The deploy gate: migrate the database through orchestrate's full pipeline, and start the new
# application only if that succeeded.
#
#   scripts/deploy.sh [options for `orchestrate upgrade`]     e.g.  scripts/deploy.sh --timeout 600
#
# Runs `orchestrate upgrade --yes "$@"`; on exit 0 runs `docker compose up -d` (COMPOSE_FILE and
# COMPOSE_PROJECT_NAME are honoured by docker compose itself). On any other exit code it says what
# the code means and what to do, does NOT deploy, and exits with orchestrate's code; if the migration
# succeeded but `docker compose up -d` failed, it exits 10.
#
# Environment:
#   ORCHESTRATE_BIN  command that runs orchestrate, split on spaces (default: node <repo>/dist/cli.js)
#   DOCKER_BIN       docker executable (default: docker from PATH)
#   DATABASE_URL, POSTGRES_PASSWORD, ORCHESTRATE_ENV, ...: passed through to orchestrate
set -Eeuo pipefail

# shellcheck source=lib/orchestrate-command.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/orchestrate-command.sh"
# The exit-code table, generated from src/errors.ts (orchestrate exit-codes --shell): the meanings are
# read from there, not spelt out here, so they cannot drift from what orchestrate itself says.
# shellcheck source=lib/exit-codes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exit-codes.sh"
docker_bin="${DOCKER_BIN:-docker}"

say() { printf 'deploy: %s\n' "$*" >&2; }

say "migrating: ${orchestrate[*]} upgrade --yes $*"
set +e
"${orchestrate[@]}" upgrade --yes "$@"
code=$?
set -e

case "$code" in
  0)
    say "migration succeeded (or nothing to do); deploying: $docker_bin compose up -d"
    if "$docker_bin" compose up -d; then
      say "deployed"
      exit 0
    fi
    say "the database is migrated but 'docker compose up -d' failed: the running application is the old one on the new schema."
    say "fix the deployment and run 'docker compose up -d' again (do not re-run the migration; it is done)."
    exit 10
    ;;
  *)
    if [[ -n "${exit_code_meaning[$code]:-}" ]]; then
      say "NOT DEPLOYED (exit $code, ${exit_code_name[$code]}): ${exit_code_meaning[$code]}; production: ${exit_code_production[$code]}."
      say "next: ${exit_code_next[$code]}."
    else
      say "NOT DEPLOYED (exit $code): orchestrate ended in an unexpected way (killed by a signal?)."
      say "treat the database state as unknown: check 'orchestrate current' and the latest report before anything else."
    fi
    ;;
esac
exit "$code"
