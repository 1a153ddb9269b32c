#!/bin/sh
# Runs a command under a standalone systemd-journald in a private mount namespace (see
# ../../shared reference "Standalone systemd-journald"): the host's journal is untouched.
# Usage: unshare -m --propagation private journald_run.sh SCRATCH COMMAND...
# The command's stdout/stderr are a journal stream (as under systemd), and JOURNAL_STREAM names that stream.
set -eu
scratch=$1
shift
mkdir -p "$scratch/run" "$scratch/varjournal"
printf '[Journal]\nStorage=volatile\nReadKMsg=no\nRateLimitBurst=0\n' > "$scratch/journald.conf"
mount --bind "$scratch/run" /run
mount --bind "$scratch/varjournal" /var/log/journal 2>/dev/null || true
mount --bind "$scratch/journald.conf" /etc/systemd/journald.conf
/lib/systemd/systemd-journald &
journald=$!
i=0
while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
status=0
systemd-cat -t clock-agent-stdout sh -c 'JOURNAL_STREAM=$(stat -L -c "%d:%i" /proc/self/fd/2); export JOURNAL_STREAM; exec "$@"' sh "$@" || status=$?
journalctl --sync || true
kill "$journald"
wait "$journald" || true
exit $status
