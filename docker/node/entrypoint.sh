#!/bin/sh
# Node containers log to stdout only, so `docker logs` (and the runner's log collection) sees everything.
set -eu
unset NOMOS_LOG_DIR
config="${2:-}"
if [ -n "$config" ] && [ ! -r "$config" ]; then
    echo "nomos-entrypoint: config file $config is not readable (is run_dir/configs mounted?)" >&2
    exit 2
fi
exec "$@"
