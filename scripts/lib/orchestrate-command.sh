# Sourced by deploy.sh and migrate.sh: sets the array `orchestrate` to the command that runs
# orchestrate: $ORCHESTRATE_BIN split on spaces (e.g. "docker compose run --rm migrate"), or the
# built CLI of this checkout.
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -n "${ORCHESTRATE_BIN:-}" ]]; then
  read -r -a orchestrate <<<"$ORCHESTRATE_BIN"
else
  orchestrate=(node "$repo_dir/dist/cli.js")
fi
