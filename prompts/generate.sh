#!/usr/bin/env bash
# Regenerates every prompt WAV from prompts.tsv with espeak-ng and sox
# (Debian packages espeak-ng and sox): 8 kHz mono 16-bit PCM, one folder per
# language. A center replaces any prompt with a studio recording by
# overwriting its WAV in the same format (sox IN.wav -r 8000 -c 1 -b 16 OUT.wav).
set -euo pipefail
cd "$(dirname "$0")"
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y $tool" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' prompts.tsv | while IFS=$'\t' read -r lang name spoken _written; do
  [ -n "$lang" ] || continue
  case "$lang" in
    en) voice=en-us ;;
    zh) voice=cmn-latn-pinyin ;;
    *) echo "unknown language $lang" >&2; exit 1 ;;
  esac
  mkdir -p "$lang"
  if [ "$spoken" = tone ]; then
    sox -D -n -r 8000 -c 1 -b 16 "$lang/$name.wav" synth 0.4 sine 1000 vol 0.5
    echo "$lang/$name.wav"
    continue
  fi
  espeak-ng -v "$voice" -s 150 -w "$tmp/raw.wav" "$spoken"
  # -D: no dither, so the same text always gives the same bytes.
  sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 "$lang/$name.wav" norm -3
  echo "$lang/$name.wav"
done
