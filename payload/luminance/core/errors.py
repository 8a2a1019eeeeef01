"""The project's one exception family, and the exit codes every photodemo command documents."""

EXIT_OK = 0  # every record handled; permanent failures (404, not an image) are recorded, not retried
EXIT_INTERNAL = 1  # a bug: a traceback was printed
EXIT_USAGE = 2  # bad command line or unreadable input: one line on stderr says which
EXIT_TRANSIENT = 3  # results written, but some records failed transiently after retries: rerun the job
# ./submit: condor_submit or a --local job failed; build.py: pip, or writing the payload; the step is named
EXIT_FAILED = 4
EXIT_UNSUITABLE = 5  # the job: this worker cannot run the payload (no Python or wheels it can use);
#                      RESULTS records why, and submit.sub has HTCondor run the job elsewhere
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT); 128+N for signal N, 143 for SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: stdout's reader left early (`| head`), as a shell reports
#                       any tool that SIGPIPE stops: the output was cut short, so not 0

# What each code means, for every command's --help: payload/luminance/core/command.py renders the codes
# a command uses, each followed by what it means for that command.
EXIT_MEANINGS = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "internal error (a bug; please report the traceback)",
    EXIT_USAGE: "usage error, in one line on stderr naming the option or input",
    EXIT_TRANSIENT: "transient failures remain after every retry (results are written; a rerun "
                    "retries just those)",
    EXIT_FAILED: "a step it ran failed (stderr names it)",
    EXIT_UNSUITABLE: "this worker cannot run the payload (no usable Python or wheels): RESULTS "
                     "says why, and HTCondor runs the job elsewhere",
    EXIT_INTERRUPTED: "interrupted by Ctrl-C; 128+N by signal N (143: SIGTERM, handled as Ctrl-C); "
                      "finished work is kept",
    EXIT_BROKEN_PIPE: "stdout closed early (a broken pipe: `| head`); the rest of the output is "
                      "dropped, quietly",
}


class PhotodemoError(Exception):
    """Base of every error photodemo reports to a user as one line (never a traceback)."""

    exit_code = EXIT_USAGE


class UsageError(PhotodemoError):
    """A bad command line, option value or input file."""


class ManifestError(PhotodemoError):
    """A manifest that cannot be read at all (a malformed line is a record failure instead)."""


class ResultsError(PhotodemoError):
    """A results file that is missing, corrupt, or of an unknown schema version."""
