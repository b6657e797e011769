#!/usr/bin/env bash
# The anomaly detector on synthetic series with labelled anomalies (core/anomaly_eval.h):
# precision, recall and time to detect for three seeds at the default threshold, then the
# threshold's trade-off (4, 5, 6 spreads) on the first seed. No peer runs here: Netdata's ML
# and Coroot are not among Debian's packages; their published approaches are compared in
# docs/anomalies.md.
#   usage: bench/anomaly_eval.sh [SERIES=200]      (after scripts/build.sh; no root needed)
set -euo pipefail
cd "$(dirname "$0")/.."
SL=${SL:-build/sightline}
series=${1:-200}
for seed in 1 2 3; do
  echo "== seed $seed"
  "$SL" anomaly-eval --series "$series" --seed "$seed" 2>/dev/null
  echo
done
echo "== threshold (seed 1): precision, recall, median time to detect"
for th in 4 5 6; do
  "$SL" anomaly-eval --series "$series" --seed 1 --threshold $th 2>/dev/null |
    awk -v th=$th '/^precision/ {p=$2} /^recall/ {r=$2} /^time to detect/ {t=$5} END {printf "  threshold %s: precision %s recall %s ttd %s s\n", th, p, r, t}'
done
