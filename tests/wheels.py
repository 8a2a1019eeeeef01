"""Wheels made up for the tests of the store (bundle.py) and of build.py."""

import os
import zipfile


def make_wheel(directory, name, files):
    """A wheel file NAME in DIRECTORY holding FILES ({path: text})."""
    path = os.path.join(str(directory), name)
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path
