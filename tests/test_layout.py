"""The layout's import rule, read from the sources with ast: luminance.core is stdlib-only and
imports nothing else of the project; photodemo/ (on the access point's bare python3) takes from the
payload only luminance.core; the job never imports photodemo."""

import ast
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "payload", "luminance")
CORE = os.path.join(PACKAGE, "core")
PHOTODEMO = os.path.join(ROOT, "photodemo")
# photodemo's modules that are not the access point's commands: the sample archive and the demo
# draw photos with Pillow (archive, images, demo); reference runs the job's own parser for the docs.
ACCESS_POINT_EXEMPT = {"archive.py", "images.py", "demo.py", "reference.py"}

# Python 3.10 lists its standard library; this is the rule's only use of it, so the test needs it.
STDLIB = getattr(sys, "stdlib_module_names", None)
pytestmark = pytest.mark.skipif(STDLIB is None, reason="needs Python 3.10+ (sys.stdlib_module_names)")


def modules(folder):
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".py"))


def imports(path, package):
    """Every module PATH imports (at its top, in functions, under TYPE_CHECKING), absolute;
    PACKAGE is PATH's own, for relative imports. An import tried under `except ImportError` is
    optional (another Python's module, with a fallback) and is left out."""
    with open(path, encoding="utf-8") as stream:
        tree = ast.parse(stream.read(), path)
    optional = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"
                for handler in node.handlers):
            optional.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            # Within the project, `from luminance import cli` names a module: the rule reads it so.
            ours = within(base, "luminance") or within(base, "photodemo")
            for alias in node.names:
                yield "{}.{}".format(base, alias.name) if ours else base


def stdlib(module):
    return module.partition(".")[0] in STDLIB


def within(module, package):
    return module == package or module.startswith(package + ".")


def breaches(folder, package, allowed, exempt=()):
    found = []
    for path in modules(folder):
        if os.path.basename(path) in exempt:
            continue
        for module in imports(path, package):
            if not allowed(module):
                found.append("{}: imports {}".format(os.path.relpath(path, ROOT), module))
    return found


def test_the_core_imports_only_the_standard_library_and_itself():
    assert modules(CORE), CORE
    assert breaches(CORE, "luminance.core",
                    lambda m: stdlib(m) or within(m, "luminance.core")) == []


def test_the_access_point_takes_from_the_payload_only_its_core():
    assert breaches(PHOTODEMO, "photodemo",
                    lambda m: stdlib(m) or within(m, "photodemo") or within(m, "luminance.core"),
                    exempt=ACCESS_POINT_EXEMPT) == []


def test_the_job_never_imports_the_access_point():
    for folder, package in ((PACKAGE, "luminance"), (CORE, "luminance.core")):
        assert breaches(folder, package, lambda m: not within(m, "photodemo")) == []


def test_the_rule_sees_every_kind_of_import(tmp_path):
    """The reader finds what a breach would look like: a relative import, one in a function, one
    of a runtime module by `from luminance import`."""
    (tmp_path / "m.py").write_text("from . import results\nfrom .. import cli\n"
                                   "def f():\n    from luminance import metrics\n    import PIL.Image\n"
                                   "try:\n    import _sha2\nexcept ImportError:\n    import hashlib\n")
    assert sorted(imports(str(tmp_path / "m.py"), "luminance.core")) == [
        "PIL.Image", "hashlib", "luminance.cli", "luminance.core.results", "luminance.metrics"]
