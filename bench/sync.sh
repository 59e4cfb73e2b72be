#!/usr/bin/env bash
# CRM sync benchmark (BENCHMARKS.md, "CRM sync: 10,000 contacts + 2,000 deals
# per vendor"): builds bench_sync and runs it once per vendor, each against
# its fake throttling at the vendor's published rate (Freshsales: its hourly
# budget run 100× faster). ≈ 7 min.
#
#   bash bench/sync.sh                       # every vendor, default sizes and budgets
#   VENDORS=zoho bash bench/sync.sh          # one vendor (hubspot pipedrive salesforce zoho dynamics)
#   bash bench/sync.sh --sf-latency-ms 500   # extra arguments go to every run
#
# Keeps report.txt, results.jsonl and machine.txt in $OUT
# (default target/bench/sync-<UTC time>/). Exits non-zero when a run lost,
# duplicated or dead-lettered a record, or a fake saw a contract violation.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-target/bench/sync-$(date -u +%Y%m%dT%H%M%SZ)}
cargo build --release --bin bench_sync || exit 1
mkdir -p "$OUT"
{
  echo "date:   $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src 2>/dev/null || echo ' (src/ has uncommitted changes)')"
  echo "cpus:   $(nproc)"
  echo "load:   $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/machine.txt"

status=0
for vendor in ${VENDORS:-hubspot pipedrive salesforce zoho freshsales dynamics}; do
  ./target/release/bench_sync --vendor "$vendor" "$@" | tee -a "$OUT/report.txt" || status=1
done
grep '^{' "$OUT/report.txt" > "$OUT/results.jsonl"
echo "results in $OUT"
exit $status
