# payload/boot.sh: what dist/luminance.pex does when pex's /bin/sh boot (--sh-boot) finds no
# Python; build.py puts it in place of pex's own message and `exit 1`, so this runs under pex's
# `set -eu`. POSIX sh, builtins only (mv if there is one). The job still leaves its results file
# (RESULTS START COUNT), saying why, and exits EXIT_UNSUITABLE, so that HTCondor runs it
# elsewhere instead of holding it for a missing file.
message='@MESSAGE@'
echo >&2 "luminance.pex: error: $message (PATH: ${PATH:-})"

# ARG as JSON writes a whole number (no leading zeros), or 0 when it is not one up to MAX.
whole() {
    case $1 in ''|*[!0-9]*) echo 0; return ;; esac
    n=$1
    while [ "${n#0}" != "$n" ] && [ -n "${n#0}" ]; do n=${n#0}; done
    if [ "${#n}" -gt 15 ] || [ "$n" -gt "$2" ]; then echo 0; else echo "$n"; fi
}

if [ "$#" -ge 3 ] && [ -n "$1" ] && [ "${1#-}" = "$1" ]; then
    if [ -d "$1" ]; then
        echo >&2 "luminance.pex: error: $1: is a directory: cannot write results"
    elif [ -e "$1" ] || [ -L "$1" ]; then
        # A rerun: HTCondor sent the results of earlier runs; they stay as they are.
        echo >&2 "luminance.pex: note: $1: kept as it is (the results of an earlier run)"
    else
        # The document of luminance.core.results, generated from it at build time: a printf format
        # whose two %s are job.start and job.count.
        results='@RESULTS@'
        start=$(whole "$2" @MAX_START@) count=$(whole "$3" 999999999999999)
        # The temporary file has a short name of its own beside RESULTS: RESULTS's name may be
        # as long as a name can be.
        case $1 in */*) folder=${1%/*}/ ;; *) folder= ;; esac
        partial="$folder.luminance-boot-$$.tmp"
        PATH="${PATH:+$PATH:}/usr/bin:/bin"  # mv, for the atomic write, even on a PATH without it
        if printf "$results" "$start" "$count" >"$partial" && mv -f "$partial" "$1" 2>/dev/null; then
            :
        elif rm -f "$partial" 2>/dev/null; printf "$results" "$start" "$count" >"$1"; then
            :  # no mv at all: written in place
        else
            rm -f "$partial" 2>/dev/null || :
            echo >&2 "luminance.pex: error: $1: cannot write results"
        fi
    fi
fi
exit @EXIT_UNSUITABLE@
