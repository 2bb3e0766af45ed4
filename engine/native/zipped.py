"""Load a compiled module of this package when the package itself was imported from a zip.

A cluster's executors import tamis from the zip the driver ships (`--py-files`, engine/code_zip.py), and
Python's zip importer loads no extension module: without this, every executor would fall back to the
pure-Python extractor (same output, ~4x the CPU). The zip carries the `.so` built on the driver; when its
file name says it was built for this interpreter (`importlib.machinery.EXTENSION_SUFFIXES`), its bytes are
written once per host into a folder only this user can write (`<tmp>/tamis-native-<uid>/<sha256>/`) and loaded
from there. A file found there is loaded only when its bytes hash to the zipped ones, so nothing another user
put in /tmp is ever loaded. The module's own import checks still run (it refuses another lxml major version).
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import stat
import sys
import tempfile
import zipimport

CACHE_PREFIX = "tamis-native-"


def load_zipped_extension(package: str, name: str):
    """`package.name` loaded from the zip `package` was imported from; None when the package is not zipped,
    the zip holds no build of `name` for this interpreter, or it fails to load (ImportError, OSError)."""
    pkg = sys.modules[package]
    loader = getattr(pkg, "__loader__", None)
    if not isinstance(loader, zipimport.zipimporter):
        return None
    folder = pkg.__path__[0]                        # <zip>/engine/native
    if not folder.startswith(loader.archive + os.sep):
        return None
    inner = folder[len(loader.archive) + 1:].replace(os.sep, "/")    # the package's folder inside the zip
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        try:
            data = loader.get_data(f"{inner}/{name}{suffix}")
        except OSError:
            continue
        try:
            return _load(f"{package}.{name}", _copy_out(data, name + suffix))
        except (ImportError, OSError):
            return None
    return None


def _private_dir() -> str:
    """<tmp>/tamis-native-<uid>: created 0700, and refused unless this user owns it and nobody else may write."""
    path = os.path.join(tempfile.gettempdir(), f"{CACHE_PREFIX}{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise OSError(f"{path} is not a private folder of this user")
    return path


def _copy_out(data: bytes, filename: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    folder = os.path.join(_private_dir(), digest[:32])
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, filename)
    try:
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == digest:
                return path
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")   # several workers of a host: the last rename wins
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def _load(full_name: str, path: str):
    spec = importlib.util.spec_from_file_location(full_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[full_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[full_name]
        raise
    return module
