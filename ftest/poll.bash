# poll_until CONDITION SECONDS: 0 once the shell condition holds, 1 when it still does not after
# SECONDS. The pause between checks doubles from 20 ms up to 0.2 s: a short wait ends quickly,
# and a long one (whose check may start docker's client or curl) costs little CPU.
poll_until() {
	local nap=0.02 end=$((${EPOCHREALTIME/./} + $2 * 1000000))
	while :; do
		eval "$1" && return 0
		[ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
		sleep "$nap"
		case $nap in 0.02) nap=0.05 ;; 0.05) nap=0.1 ;; *) nap=0.2 ;; esac
	done
}
