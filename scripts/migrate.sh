#!/usr/bin/env bash
# The classic migration script's interface on top of orchestrate, for runbooks and deploy scripts
# written against it:
#
#   scripts/migrate.sh [options] <command> [revision]
#
#   commands:  upgrade [revision]    (default head)      downgrade <revision>  (e.g. -1)
#              current   history   validate   check   test [revision]   lint [revision]
#   options:   --dry-run  --skip-backup  --skip-test  --force  --timeout <seconds>  --env <environment>
#              and every other orchestrate option (--yes, --json, --database-url, --config, ...)
#
# Options keep their meaning: each maps to the orchestrate flag of the same name. Anything this
# script does not know is passed through unchanged, so orchestrate's strict parser rejects a typo
# (--dry-runn exits 2 and touches nothing) instead of it being dropped here.
#
# Environment: ORCHESTRATE_BIN (default: node <repo>/dist/cli.js, split on spaces), plus everything
# orchestrate reads (DATABASE_URL, POSTGRES_PASSWORD, ORCHESTRATE_ENV, BACKUP_DIR, LOG_DIR, REPORT_DIR).
set -Eeuo pipefail

# shellcheck source=lib/orchestrate-command.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/orchestrate-command.sh"

usage() {
  sed -n '2,/^set -E/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# orchestrate wants the command first (an option before it would swallow it as a value), the classic
# script took options first: move the first command word to the front, keep everything else in order.
commands=" upgrade downgrade rollback test validate current history check lint backup backups restore "
command=""
rest=()
for arg in "$@"; do
  if [[ -z "$command" && "$commands" == *" $arg "* ]]; then
    command="$arg"
  elif [[ -z "$command" && ( "$arg" == "-h" || "$arg" == "--help" ) ]]; then
    usage
    exit 0
  else
    rest+=("$arg")
  fi
done

if [[ -z "$command" ]]; then
  printf 'migrate.sh: name a command (upgrade, downgrade, current, history, validate, ...); --help lists them\n' >&2
  exit 2
fi

exec "${orchestrate[@]}" "$command" "${rest[@]}"
