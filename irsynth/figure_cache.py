"""The report's figures drawn once per input: each figure's SVG is kept under a hash of what it is drawn from.

Drawing takes half of a report's build (matplotlib's layout and SVG output, about 2 of 4 s), and a report rebuilt
after a change that its figures do not show (report config, a trial no model uses) would draw the same figures again.
A function decorated with `cached` returns, inside `cached_in(folder)`, the SVG stored under the hash of its name,
its arguments (pickled), the code of irsynth and models and the package versions, and draws and stores it only
where there is none. On leaving `cached_in`, figures the build did not use are removed, so the folder holds one
report's figures. Outside `cached_in` every figure is drawn.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from markupsafe import Markup

from irsynth.provenance import atomic_path

_folder: Path | None = None  # where figures are kept, inside cached_in
_used: set[Path] = set()  # figures this build returned, inside cached_in
_code = ""  # the code and package versions, hashed once per build


def figure_key(name: str, args: tuple, kwargs: dict) -> str:
    """Hash of a figure's function name, arguments and the code that draws it. An xarray argument is loaded and
    copied first: opened from a file, it pickles with references to the file's handles (different at every opening,
    blind to the file's content)."""
    args = tuple(_in_memory(arg) for arg in args)
    kwargs = {key: _in_memory(value) for key, value in kwargs.items()}
    digest = hashlib.sha256(_code.encode())
    digest.update(name.encode())
    digest.update(pickle.dumps((args, sorted(kwargs.items())), protocol=5))
    return digest.hexdigest()


def _in_memory(value):
    import sys

    xarray = sys.modules.get("xarray")  # an xarray argument means xarray is imported
    if xarray is not None and isinstance(value, xarray.DataTree | xarray.Dataset | xarray.DataArray):
        return value.load().copy()
    return value


def cached(draw):
    """`draw` (arguments -> SVG Markup), stored and read back inside cached_in."""

    @functools.wraps(draw)
    def figure(*args, **kwargs) -> Markup:
        if _folder is None:
            return draw(*args, **kwargs)
        path = _folder / f"{draw.__name__}-{figure_key(draw.__qualname__, args, kwargs)[:32]}.svg"
        _used.add(path)
        if path.exists():
            return Markup(path.read_text(encoding="utf-8"))
        drawn = draw(*args, **kwargs)
        with atomic_path(path) as tmp:
            tmp.write_text(str(drawn), encoding="utf-8")
        return drawn

    return figure


@contextmanager
def cached_in(folder: Path) -> Iterator[None]:
    """Figures drawn inside are kept in (and read from) `folder`; those not used are removed on leaving."""
    from importlib import metadata

    from irsynth.provenance import package_versions
    from irsynth.stage_store import code_hash

    global _folder, _code
    folder.mkdir(parents=True, exist_ok=True)
    versions = {**package_versions(), "matplotlib": metadata.version("matplotlib")}
    _folder, _code = folder, code_hash() + repr(sorted(versions.items()))
    _used.clear()
    try:
        yield
        for path in folder.glob("*.svg"):
            if path not in _used:
                path.unlink()
    finally:
        _folder = None
        _used.clear()
