#!/usr/bin/env bash
# Start a SeaweedFS S3 server for bench/run with the test suite's own script, and print how to
# reach it. The server keeps running in its own process group after this script exits; stop it
# with "$S3_CTL stop" and delete $S3_TMP (bench/run does both on exit).
#
#   bench/_s3.sh PYTHON     prints BENCH_S3_<NAME>=<value> lines (TMP, CTL, ENDPOINT, keys)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_seaweedfs.sh
source scripts/_seaweedfs.sh

s3_start "$1" >&2 || {
    s3_stop
    exit 1
}
printf 'BENCH_S3_TMP=%s\n' "$S3_TMP"
printf 'BENCH_S3_CTL=%s\n' "$S3_CTL"
printf 'BENCH_S3_ENDPOINT=%s\n' "$S3_ENDPOINT"
printf 'BENCH_S3_ACCESS_KEY=%s\n' "$S3_ACCESS_KEY"
printf 'BENCH_S3_SECRET_KEY=%s\n' "$S3_SECRET_KEY"
