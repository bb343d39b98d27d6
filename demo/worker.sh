#!/bin/bash
# The demo's worker: a line every second, asking the web dyno now and then.
trap 'echo "SIGTERM: finishing up"; exit 0' TERM
n=0
while :; do
	n=$((n + 1))
	if [ $((n % 5)) -eq 0 ]; then
		echo "tick $n: web says: $(curl -s --max-time 1 "$WEB_URL" || echo 'nothing yet')"
	else
		echo "tick $n"
	fi
	sleep 1 &
	wait $!
done
