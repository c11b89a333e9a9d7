"""The plugin `wasimap run script.py` builds around a Python script.

The host writes the script's source into `_wasimap_script.py` (as data:
`FILENAME` and `SOURCE`) beside this file and the `imaplib` of
`guest/python/imaplib`, then runs componentize-py on it. At build time
(componentize-py snapshots the interpreter after importing this module)
the script is compiled, and every module it imports is imported, so that
it is in the snapshot: the component has no files at run time. `run(args)`
then executes the script's top level as `__main__` with
`sys.argv = [FILENAME, *args]`; an uncaught exception prints Python's
traceback and fails the run (exit 1, as python3 exits), `sys.exit(n)`
fails it with `n` unless `n` is 0 or None.
"""

import ast
import builtins
import importlib
import os
import sys
import traceback

# Our imaplib, not the standard library's: this directory goes first.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.modules.pop("imaplib", None)

try:
    import ssl  # noqa: F401  (the real one, if this CPython has OpenSSL)
except ImportError:
    import wasimap_ssl

    sys.modules["ssl"] = wasimap_ssl

import imaplib  # noqa: E402
import wasimap  # noqa: E402,F401
import wit_world  # noqa: E402
from componentize_py_types import Err  # noqa: E402

import _wasimap_script as _script  # noqa: E402

if not getattr(imaplib, "__file__", "").startswith(os.path.dirname(os.path.abspath(__file__))):
    raise ImportError(f"the sandbox's imaplib was shadowed by {imaplib.__file__}")

#: Modules imaplib scripts (and the modules they use) import lazily, at
#: run time, which must therefore be in the snapshot.
PRELOAD = [
    "argparse", "base64", "binascii", "calendar", "collections", "contextlib", "csv", "dataclasses",
    "datetime", "email", "email.charset", "email.encoders", "email.generator", "email.header",
    "email.headerregistry", "email.contentmanager", "email.iterators", "email.message",
    "email.mime.base", "email.mime.multipart", "email.mime.text", "email.mime.application",
    "email.parser", "email.policy", "email.utils", "email.feedparser", "email._header_value_parser",
    "functools", "getpass", "hashlib", "hmac", "io", "itertools", "json", "locale", "logging", "mailbox",
    "math", "mimetypes", "os.path", "pathlib", "quopri", "re", "shlex", "socket", "string", "struct",
    "tempfile", "textwrap", "time", "traceback", "unicodedata", "uu", "zlib",
]


def _codecs():
    """Every codec of the standard library (`bytes.decode(charset)` looks
    them up at run time, e.g. email's `raw-unicode-escape`), except those
    only a platform has."""
    import encodings
    import pkgutil

    return [f"encodings.{m.name}" for m in pkgutil.iter_modules(encodings.__path__)
            if m.name not in ("mbcs", "oem", "cp65001")]


def _imported_modules(tree):
    """Every module name an `import` or `from ... import` in `tree` names
    (absolute imports; `from a import b` also tries `a.b`)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names if a.name != "*")
    return names


def _preload(names):
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - missing here means missing at run time too
            pass


CODE = compile(_script.SOURCE, _script.FILENAME, "exec")
_preload(PRELOAD)
_preload(_codecs())
_preload(_imported_modules(ast.parse(_script.SOURCE, _script.FILENAME)))


class WitWorld(wit_world.WitWorld):
    """`run(args)`: the script's top level, as `python3 FILENAME ARGS...`."""

    def run(self, args):
        sys.argv = [_script.FILENAME, *args]
        main = type(sys)("__main__")
        main.__file__ = _script.FILENAME
        main.__builtins__ = builtins
        saved_main = sys.modules.get("__main__")
        sys.modules["__main__"] = main
        try:
            exec(CODE, main.__dict__)
        except SystemExit as e:
            code = e.code
            if code is None or code == 0:
                return
            if isinstance(code, int):
                raise Err(f"{_script.FILENAME} exited with status {code}")
            print(code, file=sys.stderr)
            raise Err(f"{_script.FILENAME} exited with status 1")
        except BaseException as e:  # noqa: BLE001 - reported as python3 reports it
            traceback.print_exc()
            raise Err(f"{_script.FILENAME}: uncaught {type(e).__name__}")
        finally:
            if saved_main is not None:
                sys.modules["__main__"] = saved_main
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001
                    pass
