#!/usr/bin/env bash
# Signals and blocking calls under the preload, with a C program (scripts/e2e/signals.c): the masks
# of ppoll, pselect and epoll_pwait(2) are set atomically with the sleep.
source "$(dirname "$0")/lib.sh"
setup signals
cc -Wall -Werror -O1 -o "$WORK/signals" "$ROOT/scripts/e2e/signals.c" || fail "signals.c does not build"

out=$(onstack -- timeout 30 "$WORK/signals" masks 2>&1) || fail "masks: $out"
echo "$out" | grep -q "PASS masks" || fail "masks: $out"

echo "signals: the masks of ppoll, pselect, epoll_pwait and epoll_pwait2 are atomic"
