#!/usr/bin/env bash
# sluice developer entry point, for a fresh Debian 12 machine:
#   ./dev.sh run [SLUICE ARGS...]   install build deps, build, run sluice
#   ./dev.sh test [GLOB]            install build+test deps, build, run all tests
#   ./dev.sh deps [run|test|bench]  only install what is missing
# Missing Debian packages are installed with apt-get when run as root;
# otherwise the exact command to run is printed and the script stops.
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PKGS=(make gcc libc6-dev pkg-config libc-ares-dev libsodium-dev liburing-dev)
TEST_PKGS=(python3 curl iperf3 iproute2 nftables procps util-linux clang libclang-rt-14-dev valgrind
	microsocks dante-server proxychains4 dnsmasq-base dante-client)
BENCH_PKGS=(iperf3 haproxy socat nginx-light libnginx-mod-stream python3 microsocks dante-server tinyproxy)

missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
	done
}

ensure() {
	local need
	need=$(missing "$@" | tr '\n' ' ')
	[ -z "${need// /}" ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		echo "dev.sh: installing: $need" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $need >&2
	else
		echo "dev.sh: missing Debian packages. Run:" >&2
		echo "  sudo apt-get install -y $need" >&2
		exit 1
	fi
}

cmd=${1:-run}
[ $# -gt 0 ] && shift
case "$cmd" in
run)
	ensure "${BUILD_PKGS[@]}"
	make -j"$(nproc)" >&2
	# Without arguments sluice runs its default: a SOCKS5/SOCKS4/HTTP proxy
	# on 127.0.0.1:1080 (try: curl -x socks5h://127.0.0.1:1080 URL).
	exec build/sluice "$@"
	;;
test)
	ensure "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
	make -j"$(nproc)" all unit >&2
	exec bash tests/run.sh "$@"
	;;
deps)
	case "${1:-test}" in
	run) ensure "${BUILD_PKGS[@]}" ;;
	test) ensure "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" ;;
	bench) ensure "${BUILD_PKGS[@]}" "${BENCH_PKGS[@]}" ;;
	*) echo "dev.sh deps: expected run, test or bench" >&2; exit 2 ;;
	esac
	;;
*)
	echo "usage: ./dev.sh run [ARGS...] | test [GLOB] | deps [run|test|bench]" >&2
	exit 2
	;;
esac
