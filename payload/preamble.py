# dist/luminance.pex's preamble (build.py: pex --preamble-file), run before pex's bootstrap, in
# each process pex starts itself in.
import os

# The boot starts Python with -E, so the worker's PYTHONPATH and PYTHONHOME do not reach this
# process; pex's own child processes (it identifies the interpreter in one) must not see them
# either: a bogus PYTHONHOME there fails the job before it could write its results.
for _name in ("PYTHONPATH", "PYTHONHOME"):
    os.environ.pop(_name, None)

# With no HOME and a uid that has no passwd entry (a container's random uid), pex's default
# PEX_ROOT, ~/.cache/pex, stays relative and pex unpacks into a folder literally named `~` in
# the job's directory: such a start gets a private temporary PEX_ROOT instead, removed when the
# last process exits.
_TEMPORARY = "_LUMINANCE_TEMPORARY_PEX_ROOT"
if not os.environ.get("PEX_ROOT") and os.path.expanduser("~").startswith("~"):
    import tempfile

    os.environ["PEX_ROOT"] = os.environ[_TEMPORARY] = tempfile.mkdtemp(prefix="luminance-pex-root.")
if os.environ.get(_TEMPORARY) and os.environ.get(_TEMPORARY) == os.environ.get("PEX_ROOT"):
    import atexit
    import shutil

    atexit.register(shutil.rmtree, os.environ[_TEMPORARY], True)
