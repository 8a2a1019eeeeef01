"""The project's one exception family, and the exit codes every photodemo command documents."""

EXIT_OK = 0  # every record handled; permanent failures (404, not an image) are recorded, not retried
EXIT_INTERNAL = 1  # a bug: a traceback was printed
EXIT_USAGE = 2  # bad command line or unreadable input: one line on stderr says which
EXIT_TRANSIENT = 3  # results written, but some records failed transiently after retries: rerun the job
EXIT_FAILED = 4  # ./submit: condor_submit or a --local job failed; its error log is named
EXIT_UNSUITABLE = 5  # the job: this worker cannot run the payload (no Python or wheels it can use);
#                      RESULTS records why, and submit.sub has HTCondor run the job elsewhere
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT); 128+N for signal N, 143 for SIGTERM

EXIT_CODES_HELP = """exit codes:
  0  every record handled (permanent failures such as HTTP 404 are recorded in RESULTS)
  1  internal error (a bug; please report the traceback)
  2  usage error: bad arguments, unreadable manifest, unwritable results
  3  some records failed transiently (timeouts, HTTP 5xx, dropped connections) after all
     retries; RESULTS is still written, and rerunning the job retries just the same records"""


class PhotodemoError(Exception):
    """Base of every error photodemo reports to a user as one line (never a traceback)."""

    exit_code = EXIT_USAGE


class UsageError(PhotodemoError):
    """A bad command line, option value or input file."""


class ManifestError(PhotodemoError):
    """A manifest that cannot be read at all (a malformed line is a record failure instead)."""


class ResultsError(PhotodemoError):
    """A results file that is missing, corrupt, or of an unknown schema version."""
