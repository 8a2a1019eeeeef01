#!/bin/sh
# The start of dist/luminance.pex, made by build.py from payload/boot.sh; a zip follows, which
# CPython runs as it runs a script (README, "The payload"). POSIX sh, builtins only until no
# Python is found. Run it with a Python of your choice as `python3.X luminance.pex ...`.

# A python3 as pex's --sh-boot finds one: on PATH, which is /bin/sh's default path when HTCondor
# gives the job none; the Pythons the payload carries libraries for first, newest first.
for python in @PYTHONS@; do
    if command -v "$python" >/dev/null 2>&1; then
        # -S: no site-packages; the job imports only the standard library and what it carries.
        exec "$python" -S "$0" "$@"
    fi
done

# No Python: the job still leaves its results file (RESULTS START COUNT), saying why, and exits
# EXIT_UNSUITABLE, so that HTCondor runs it elsewhere instead of holding it for a missing file.
message='@MESSAGE@'
echo "luminance.pex: error: $message (PATH: ${PATH:-})" >&2

# ARG as JSON writes a whole number (no leading zeros), or 0 when it is not one of at most DIGITS.
whole() {
    case $1 in ''|*[!0-9]*) echo 0; return ;; esac
    n=$1
    while [ "${n#0}" != "$n" ] && [ -n "${n#0}" ]; do n=${n#0}; done
    if [ "${#n}" -gt "$2" ]; then echo 0; else echo "$n"; fi
}

if [ "$#" -ge 3 ] && [ -n "$1" ] && [ "${1#-}" = "$1" ]; then
    # The document of luminance.results, generated from it at build time: a printf format whose
    # two %s are job.start and job.count.
    results='@RESULTS@'
    start=$(whole "$2" 8) count=$(whole "$3" 15) partial="$1.boot-$$.tmp"
    PATH="${PATH:+$PATH:}/usr/bin:/bin"  # mv, for the atomic write, even on a PATH without it
    if printf "$results" "$start" "$count" >"$partial" && mv -f "$partial" "$1" 2>/dev/null; then
        :
    elif rm -f "$partial" 2>/dev/null; printf "$results" "$start" "$count" >"$1"; then
        :  # no mv at all: written in place
    else
        echo "luminance.pex: error: $1: cannot write results" >&2
    fi
fi
exit @EXIT_UNSUITABLE@
