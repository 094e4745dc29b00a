#!/usr/bin/env bash
# The published crate ships what a user needs and nothing else (no tests, benchmark,
# node or python files), and `cargo publish --dry-run` builds it from its own package.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
list="$(cargo package --list --allow-dirty 2>/dev/null)"
bad="$(grep -E '^(tests|bench|scripts|node_modules|\.ci)/|^package(-lock)?\.json$|^requirements' <<<"$list" || true)"
if [[ -n "$bad" ]]; then
    printf 'check-package: the package would ship:\n%s\n' "$bad" >&2
    exit 1
fi
for needed in LICENSE README.md CHANGELOG.md src/lib.rs; do
    grep -qx "$needed" <<<"$list" || { echo "check-package: $needed is not packaged" >&2; exit 1; }
done
if ! out="$(cargo publish --dry-run --allow-dirty 2>&1)"; then
    grep -v '^warning: ignoring test' <<<"$out" >&2
    echo "check-package: cargo publish --dry-run failed" >&2
    exit 1
fi
echo "check-package: $(wc -l <<<"$list") files, publish dry run ok"
