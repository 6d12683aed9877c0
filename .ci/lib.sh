# shellcheck shell=bash
# Shared settings of the shmx CI scripts (.ci/run, .ci/setup-emulators and
# the exec wrappers in .ci/bin), sourced, never run.

# ci_dir is the .ci folder of this checkout.
ci_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Go's tarball install is not always on PATH (a CI job's fresh shell).
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	PATH=$PATH:/usr/local/go/bin
fi

# shmx_have_pkg reports whether Debian package $1 is installed.
shmx_have_pkg() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# shmx_apt_install PKG...: installs Debian packages with apt-get, as root
# or through sudo, unless SHMX_CI_NO_INSTALL=1. Callers pass only missing
# packages. Recommended packages come too: the wine set-up was checked
# with them.
shmx_apt_install() {
	if [[ ${SHMX_CI_NO_INSTALL:-} == 1 ]]; then
		echo "ci: missing packages: $* (not installed: SHMX_CI_NO_INSTALL=1)" >&2
		return 1
	fi
	if ! command -v apt-get >/dev/null; then
		echo "ci: missing packages: $*; no apt-get here, install them by hand" >&2
		return 1
	fi
	local sudo=()
	if [[ $(id -u) != 0 ]]; then
		if ! command -v sudo >/dev/null; then
			echo "ci: missing packages: $*; installing needs root or sudo" >&2
			return 1
		fi
		sudo=(sudo)
	fi
	echo "ci: installing $* with apt-get"
	local t0=$SECONDS
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
	echo "ci: installed $* in $((SECONDS - t0)) s"
}

# The wine prefix is shared by every checkout of one user (it takes ~700 MB
# and ~10 s to create); SHMX_WINEPREFIX chooses another one.
shmx_wineprefix() {
	echo "${SHMX_WINEPREFIX:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/shmx-wine}"
}

# shmx_wine_env exports what every wine call of the CI needs: our prefix,
# 64-bit, silence, no window system, and no Mono/Gecko install prompts.
shmx_wine_env() {
	WINEPREFIX=$(shmx_wineprefix)
	export WINEPREFIX WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
	unset DISPLAY WAYLAND_DISPLAY
}

# shmx_wine_loader prints the wine program that runs 64-bit binaries:
# Debian's wine64 package puts it at /usr/lib/wine/wine64, off PATH; the
# `wine` package adds the /usr/bin/wine launcher, which also picks it.
shmx_wine_loader() {
	local w
	for w in wine64 /usr/lib/wine/wine64 /usr/lib/wine64/wine64 wine; do
		if command -v "$w" >/dev/null 2>&1; then
			command -v "$w"
			return 0
		fi
	done
	return 1
}

# shmx_wineserver prints the wineserver program that matches the loader.
shmx_wineserver() {
	local w
	for w in wineserver /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver; do
		if command -v "$w" >/dev/null 2>&1; then
			command -v "$w"
			return 0
		fi
	done
	return 1
}

# How long (s) a wineserver started by the CI stays up after its last
# client exits, so that one wine start-up serves a whole test run.
shmx_wineserver_linger=${SHMX_WINESERVER_LINGER:-300}

# shmx_wine_warm makes sure a persistent wineserver and wine's background
# services run for the prefix, started with stdio on /dev/null. Otherwise
# the first wine process of each `go test` package starts them, they
# inherit go test's stderr pipe, and go test waits ~2-3 s per package for
# that pipe to close. Serialised with flock: go test runs packages in
# parallel. Needs shmx_wine_env. If SHMX_WINE_STARTED_MARKER names a file,
# it is created when this call started the server (.ci/run then stops it
# at the end on CI, and never stops a server that someone else started).
shmx_wine_warm() {
	local loader server rc=0
	loader=$(shmx_wine_loader) || return 1
	server=$(shmx_wineserver) || return 1
	# The lock's descriptor must not leak into the daemons (9>&-), or they
	# would hold the lock for as long as they live.
	(
		# An optimisation only: after 60 s of waiting go on without it.
		flock -w 60 9 || exit 0
		# Exit status 2: a server already runs for this prefix.
		"$server" -p"$shmx_wineserver_linger" </dev/null >/dev/null 2>&1 9>&- || rc=$?
		if [[ $rc == 0 ]]; then
			if [[ -n ${SHMX_WINE_STARTED_MARKER:-} ]]; then
				: >"$SHMX_WINE_STARTED_MARKER"
			fi
			"$loader" cmd /c exit </dev/null >/dev/null 2>&1 9>&- || true
		fi
	) 9>"$WINEPREFIX/.shmx-wine-warm.lock"
}
