"""The job's stdlib-only core, shared with the access point: ./submit, ./aggregate and build.py
import these modules on a bare python3, and the job reads the same definitions."""
