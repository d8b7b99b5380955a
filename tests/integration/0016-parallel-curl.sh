#!/usr/bin/env bash
# 100 curl processes at once through sluice to one HTTP server: all get the
# whole file.
. "$(dirname "$0")/lib.sh"
need python3 curl

N=100
mkdir -p "$T/www" "$T/got"
head -c 300000 /dev/urandom >"$T/www/f"
H=$(free_port)
# A threading HTTP server: python's default one serves one request at a time.
bg http python3 -c "
import functools, http.server, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 512
S(('127.0.0.1', int(sys.argv[1])), h).serve_forever()
" "$H" "$T/www"
wait_listen "$H"
LP=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$H"
pids=()
for i in $(seq 1 $N); do
	curl -sS --fail --max-time 30 -o "$T/got/$i" "http://127.0.0.1:$LP/f" 2>"$T/got/$i.err" &
	pids+=($!)
	BG_PIDS+=($!)
done
bad=0
for i in $(seq 1 $N); do
	wait "${pids[$((i - 1))]}" || bad=$((bad + 1))
done
ok=0
for i in $(seq 1 $N); do
	cmp -s "$T/got/$i" "$T/www/f" && ok=$((ok + 1))
done
log "$ok/$N downloads intact, $bad curl failures"
[ $ok = $N ] || fail "$ok/$N parallel downloads intact ($bad curl failures: $(cat "$T"/got/*.err | sort | uniq -c | head -3))"
wait_for 10 log_count_at_least $N ' closed: client .*\(eof\)' || fail "not all $N connections logged closed"
stop_sluice
