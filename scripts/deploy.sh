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
  1)
    say "NOT DEPLOYED (exit 1): unexpected internal error in orchestrate."
    say "read the run's report in reports/ and its log in logs/ before anything else; check 'orchestrate current' to see where the database stands."
    ;;
  2)
    say "NOT DEPLOYED (exit 2): usage or configuration error; the database was not touched."
    say "fix the command line or orchestrate.config.json (the message above lists every problem) and run the deploy again."
    ;;
  3)
    say "NOT DEPLOYED (exit 3): refused by preflight or the safety policy; the database was not touched."
    say "read the findings above ('orchestrate lint' repeats them); fix the migration or the environment. Override with --force only for a reason you will write down (--reason)."
    ;;
  4)
    say "NOT DEPLOYED (exit 4): another orchestrate run holds the migration lock; the database was not touched."
    say "wait for it to finish (see 'curl localhost:9477/runs' or reports/audit.jsonl) and deploy again; never remove the lock by hand while that run is alive."
    ;;
  5)
    say "NOT DEPLOYED (exit 5): the rehearsal on a scratch copy of the database failed; production was not touched."
    say "the migration does not work on today's data: read the rehearsal step in the report, fix the migration, and deploy again."
    ;;
  6)
    say "NOT DEPLOYED (exit 6): the production migration failed and was ROLLED BACK; the database was verified equal to before the run."
    say "the old application keeps running on the old schema. Read the report for the failing step, fix the migration, and deploy again."
    ;;
  7)
    say "NOT DEPLOYED (exit 7): NEEDS A HUMAN. The rollback failed, could not be verified, or a restore needs a decision."
    say "do not re-run the deploy or the migration. Stop writes if you can, read the report (it names the backup), and decide with a DBA: 'orchestrate restore <backup-id>' or a manual fix."
    ;;
  8)
    say "NOT DEPLOYED (exit 8): migrations are still pending after the upgrade; the database is behind the code."
    say "run 'orchestrate history' to see which, then deploy again."
    ;;
  *)
    say "NOT DEPLOYED (exit $code): orchestrate ended in an unexpected way (killed by a signal?)."
    say "treat the database state as unknown: check 'orchestrate current' and the latest report before anything else."
    ;;
esac
exit "$code"
