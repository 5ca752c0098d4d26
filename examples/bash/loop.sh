#!/usr/bin/env bash
# loop.sh: a bash loop that keeps its counter in a file and commits it with `ckpt commit`.
#   ckpt run -- bash examples/bash/loop.sh [STEPS [EVERY [WORK]]]
#   ckpt run --every 1m -- bash examples/bash/loop.sh 100000   # also commit when ckpt asks
# After a crash ckpt puts the last committed counter.txt back and sets CKPT_RESTORE; the loop
# continues from there and ends with the same result as an uninterrupted run. `ckpt` is taken
# from $CKPT_BIN, else PATH.
set -u
steps=${1:-200}
every=${2:-40}
work=${3:-2000}
ckpt=${CKPT_BIN:-ckpt}

# First thing: ckpt sends its checkpoint signal (SIGUSR2) only to processes that handle it.
requested=0
trap 'requested=1' USR2

# `ckpt commit` runs in this job's process group: a SIGUSR2 sent to ckpt by hand is forwarded to
# the whole group and kills it (exit 140 = 128 + SIGUSR2). Commit again then.
commit() {
  local status
  for _ in 1 2 3; do
    "$ckpt" commit --step "$1" -- counter.txt >/dev/null && return 0
    status=$?
    ((status > 128)) || break # died of a signal: try again
  done
  echo "loop.sh: ckpt commit failed (exit $status)" >&2
  exit 1 # not 0: ckpt restarts the loop from its last checkpoint
}

if ! command -v "$ckpt" >/dev/null; then
  echo "loop.sh: needs the ckpt command: install it with \`npm install -g ckpt\` (Node.js >= 20), or set CKPT_BIN to its path" >&2
  exit 127
fi

i=0
acc=1
if [[ -n ${CKPT_RESTORE:-} && -f $CKPT_RESTORE/counter.txt ]]; then
  read -r i acc <"$CKPT_RESTORE/counter.txt"
  echo "loop.sh: pid $$, resumed at step $i (restart ${CKPT_RESTARTS:-0})"
else
  echo "loop.sh: pid $$, fresh start"
fi

while ((i < steps)); do
  i=$((i + 1))
  for ((k = 0; k < work; k++)); do
    acc=$(((acc * 48271 + i + k) % 2147483647))
  done
  if ((i % every == 0 || requested)); then
    requested=0
    printf '%d %d\n' "$i" "$acc" >counter.txt.tmp && mv counter.txt.tmp counter.txt
    commit "$i"
    echo "loop.sh: step $i committed"
  fi
done
echo "result: step=$i acc=$acc"
