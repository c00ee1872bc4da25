#!/usr/bin/env bash
# Instructions per call of each l1 variant, counted by callgrind (repeatable on a loaded
# machine, unlike wall-clock time). Each variant runs at two call counts; the difference
# divided by the extra calls is its cost per call, start-up and warming excluded.
#
#   cache-runtime/benches/callgrind.sh [variant ...]
#
# Needs valgrind; builds the l1 bench first. See benches/NOTES.md for the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(nice -n 19 cargo bench -p cache-runtime --bench l1 --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
variants=("$@")
if [ ${#variants[@]} -eq 0 ]; then
    variants=(floor hit cached quick moka sync_floor sync_hit sync_cached sync_quick
        tags_hit unless_hit only_if_slower_hit ttl_from_hit hard_timeout_hit soft_timeout_hit tti_hit capacity_hit timed_hit body miss timer timer_sync)
fi
small=20000
large=120000
ir() {
    local out
    out=$(mktemp)
    L1_COUNT="$1:$2" nice -n 19 valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bin" >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
    rm -f "$out"
}
printf '%-20s %12s\n' variant 'Ir per call'
for v in "${variants[@]}"; do
    a=$(ir "$v" "$small")
    b=$(ir "$v" "$large")
    printf '%-20s %12d\n' "$v" $(((b - a) / (large - small)))
done
