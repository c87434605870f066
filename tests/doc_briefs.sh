#!/usr/bin/env bash
# Checks the briefs of the Doxygen reference (man pages and HTML) made by
# `doxygen include/Doxyfile`, after it has run (CI's "reference docs" step):
#
#   bash tests/doc_briefs.sh [DOC_DIR]        DOC_DIR defaults to target/doc-c
#
# Fails when
#  1. a brief has a bare number where a name belongs ("enum 2", "of 2.") or a
#     leaked sed back-reference ("\2"): the Doxyfile's INPUT_FILTER writes the
#     briefs of the int32_t enum typedefs, and a broken back-reference in it
#     printed "An int32_t holding a value of enum 2." (man) / "enum \2" (HTML);
#  2. a `typedef int32_t FeishuX;` of the header has no brief naming FeishuX
#     under its own declaration, or such a brief sits under another
#     declaration (the same bug dropped the typedefs, and each comment became
#     the brief of the next declaration: enum FeishuLogLevel, FeishuCode and
#     the FeishuCancel typedef lost their own);
#  3. the header's page is titled by its path ("include/feishu_task.h")
#     instead of "feishu_task.h", or has no brief.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=${1:-target/doc-c}
header=include/feishu_task.h
man=$doc/man/man3
page=$man/feishu_task.h.3
html=$doc/html
[ -f "$page" ] && [ -d "$html" ] || {
  echo "doc_briefs.sh: no reference in $doc (run: doxygen include/Doxyfile)"
  exit 2
}
fail=0
bad() { echo "doc_briefs.sh: $*"; fail=1; }

# Roff or HTML text of one line as a reader sees it.
roff_text() { sed -E 's/\\&//g; s/\\f[BCIPR]//g; s/\\-/-/g; s/\\\\/\\/g'; }
html_text() { sed -E 's/<[^>]*>//g; s/&#160;/ /g; s/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g'; }

# Every brief: the NAME line of each man page (not the .so links), each
# summary brief of the man pages (an .RI line after .br), and each brief of
# the HTML pages (mdescRight cells, the tooltips of the source page).
briefs=$(mktemp)
trap 'rm -f "$briefs"' EXIT
for f in "$man"/*.3; do
  head -1 "$f" | grep -q '^\.so ' && continue
  awk -v f="${f##*/}" '
    prev == ".SH NAME" || prev == ".SH \"NAME\"" { print f ": " $0 }
    prev == ".br" && /^\.RI "/ { sub(/^\.RI "/, ""); sub(/"$/, ""); print f ": " $0 }
    { prev = $0 }' "$f"
done | roff_text >>"$briefs"
for f in "$html"/*.html; do
  grep -oE '<td class="mdescRight">.*</td>|<div class="ttdoc">[^<]*</div>' "$f" |
    sed "s|^|${f##*/}: |" | html_text >>"$briefs" || true
done
[ -s "$briefs" ] || bad "no briefs found in $doc"

# 1. A number where a name belongs.
name_slot='(\\[0-9])|\b(enum|struct|union|typedef|type|function|macro)[[:space:]]+[0-9]+\b|\bof[[:space:]]+[0-9]+\.([[:space:]]|$)'
if grep -E "$name_slot" "$briefs"; then
  bad "the briefs above have a number (or a sed back-reference) where a name belongs"
fi

# 2. The int32_t enum typedefs: each has a brief naming it, under its own
# declaration in the header's man page; no such brief under another one.
pairs=$(awk '
  prev == ".ti -1c" && /^\.RI "/ { decl = $0; next }
  prev == ".br" && /^\.RI "/ && decl != "" { print decl "\t" $0; decl = "" }
  { prev = $0 }' "$page" | roff_text)
for t in $(sed -nE 's/^typedef int32_t (Feishu[A-Za-z0-9_]+);$/\1/p' "$header" | sort -u); do
  grep -qP "^\\.RI \"typedef int32_t \\Q$t\\E\"\t.*\\benum \\Q$t\\E\\b" <<<"$pairs" ||
    bad "typedef int32_t $t: no brief naming enum $t under its declaration in ${page##*/}"
done
while IFS=$'\t' read -r decl brief; do
  named=$(grep -oP 'holding a value of enum \K\S+?(?=\.?(\s|"|$))' <<<"$brief" || true)
  [ -z "$named" ] && continue
  [ "$decl" = ".RI \"typedef int32_t $named\"" ] ||
    bad "the brief of enum $named's typedef sits under another declaration: $decl -> $brief"
done <<<"$pairs"

# 3. The header's page: titled by the file name, with a brief.
th=$(sed -nE '1s/^\.TH "([^"]*)".*/\1/p' "$page")
[ "$th" = feishu_task.h ] || bad "man page ${page##*/} is titled '$th', not 'feishu_task.h'"
name_line=$(grep -A1 -m1 '^\.SH "\?NAME"\?$' "$page" | tail -1 | roff_text)
grep -qE '^feishu_task\.h - [A-Za-z].{20,}' <<<"$name_line" ||
  bad "man page ${page##*/}: NAME is '$name_line', not 'feishu_task.h - <one-line brief>'"
file_html=$(grep -l '<div class="title">feishu_task.h File Reference</div>' "$html"/*.html | head -1 || true)
if [ -z "$file_html" ]; then
  bad "no HTML page titled 'feishu_task.h File Reference'"
else
  grep -q '<title>[^<]*: feishu_task\.h File Reference</title>' "$file_html" ||
    bad "${file_html##*/}: $(grep -o '<title>[^<]*</title>' "$file_html")"
fi

[ "$fail" = 0 ] || exit 1
echo "doc_briefs.sh: $(wc -l <"$briefs") briefs checked, no number where a name belongs; header page 'feishu_task.h'"
