#!/usr/bin/env bash
# Rebuild docs/benchmarks.md from _header.md and the per-area pages beside this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
{
  cat "$here/_header.md"
  for f in startup ingest stores synthetic profiles clv ranking models_scale models serving_ranking serving campaigns uplift_ope spark; do
    [ -f "$here/$f.md" ] || continue
    printf '\n---\n\n<!-- from docs/benchmarks/%s.md -->\n' "$f"
    sed -e 's/^# /## /' -e 's/^## \(.*\)$/### \1/;t' "$here/$f.md" | sed -e '1s/^### /## /'
  done
} > "$here/../benchmarks.md"
