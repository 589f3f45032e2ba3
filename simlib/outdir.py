"""The ``--out`` folder: absent or empty (or ``--force``), checked before any server is contacted.

Kept apart from :mod:`simlib.report` (which needs pandas) so the command line can refuse a bad ``--out`` at once.
"""
from __future__ import annotations

from pathlib import Path

from .errors import UsageError


def prepare_out_dir(path: str | Path, *, force: bool) -> Path:
    """An output folder must be absent or empty, unless ``force``."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"--out {out}: folder is not empty; choose another or add --force to overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the folder ({exc.strerror}); choose a writable place") from None
    return out
