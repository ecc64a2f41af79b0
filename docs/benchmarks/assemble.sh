#!/usr/bin/env bash
# Rebuild docs/benchmarks.md from _header.md and the per-area pages beside this script:
# the pages named in ORDER first, then every other page in name order (a new page needs no edit here).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ORDER="startup ingest stores synthetic profiles segments clv ranking models_scale models serving_ranking serving campaigns uplift_ope privacy fairness spark experiments"
pages=()
for f in $ORDER; do [ -f "$here/$f.md" ] && pages+=("$f"); done
for path in "$here"/*.md; do
  f="$(basename "$path" .md)"
  [ "$f" = "_header" ] && continue
  case " $ORDER " in *" $f "*) ;; *) pages+=("$f") ;; esac
done
{
  cat "$here/_header.md"
  for f in "${pages[@]}"; do
    printf '\n---\n\n<!-- from docs/benchmarks/%s.md -->\n' "$f"
    sed -e 's/^# /## /' -e 's/^## \(.*\)$/### \1/;t' "$here/$f.md" | sed -e '1s/^### /## /'
  done
} > "$here/../benchmarks.md"
