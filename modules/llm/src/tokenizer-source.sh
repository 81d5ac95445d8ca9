#!/usr/bin/env bash
# Writes the C source of the embedded tokenizer (llm_tokenizer_merges) from tokenizer.txt to stdout. The
# tokenizer ships inside each program, so the module's own CID covers it and no second input can disagree.
#   bash modules/llm/src/tokenizer-source.sh modules/llm/tokenizer.txt > tokenizer-merges.c
set -euo pipefail
tokenizer="$1"
if [ ! -f "$tokenizer" ]; then
  echo "tokenizer-source: $tokenizer not found (scripts/train-llm.py writes it)" >&2
  exit 1
fi
awk '
  BEGIN { print "/* Generated from modules/llm/tokenizer.txt by modules/llm/src/tokenizer-source.sh. */"
          print "#include \"tokenizer.h\""
          print "const unsigned short llm_tokenizer_merges[TOKENIZER_MERGES][2] = {" }
  NF != 2 || $1 !~ /^[0-9]+$/ || $2 !~ /^[0-9]+$/ || $1 >= 256 + NR - 1 || $2 >= 256 + NR - 1 {
    printf "tokenizer-source: line %d of %s is not two earlier token ids\n", NR, FILENAME > "/dev/stderr"; bad = 1; exit 1 }
  { printf "  {%d, %d},\n", $1, $2 }
  END { if (bad) exit 1
        if (NR != 768) { printf "tokenizer-source: %s has %d merges, not 768\n", FILENAME, NR > "/dev/stderr"; exit 1 }
        print "};" }
' "$tokenizer"
