#!/bin/sh
# doc_refs - every citation of a section of a doc/ page (design, kernel-notes,
# performance, reliability, security) in the tree, written as doc/NAME.md followed by
# "Heading" (also with \" in C strings), names a heading that exists in that file. A
# citation must sit on one line to be checked.
# Usage: doc_refs.sh SOURCE_ROOT
set -eu
root=${1:?usage: doc_refs.sh SOURCE_ROOT}
cd "$root"
cites=$(mktemp)
trap 'rm -f "$cites"' EXIT
grep -rnoE '(doc/)?(design|kernel-notes|performance|reliability|security)\.md \\?"[^"\\]+' \
    src include tests bench examples doc README.md >"$cites" || true
total=0
bad=0
while IFS= read -r hit; do
    where=${hit%%:*}:$(printf '%s' "$hit" | cut -d: -f2)
    cite=$(printf '%s' "$hit" | cut -d: -f3-)
    file=doc/$(printf '%s' "$cite" | sed -E 's/^(doc\/)?([a-z-]+\.md).*/\2/')
    section=$(printf '%s' "$cite" | sed -E 's/^[^"]*"//')
    total=$((total + 1))
    if ! sed -nE 's/^#{1,4} //p' "$file" | grep -qxF -- "$section"; then
        echo "$where: $file has no section \"$section\""
        bad=$((bad + 1))
    fi
done <"$cites"
if [ "$total" -eq 0 ]; then
    echo "no citations found under $root: the pattern or the tree is wrong"
    exit 1
fi
echo "doc_refs: $total citations, $bad broken"
[ "$bad" -eq 0 ]
