"""Files handed over by a user (the app's uploads), kept under MUSICGEN_HOME/uploads/ by content."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from musicgen.errors import ConfigError
from musicgen.paths import atomic_write, uploads_dir


def save_uploads(files: Iterable[tuple[str, bytes]]) -> Path:
    """Write (name, contents) files under home/uploads/<hash of names and contents>/ and return that folder.

    A name keeps its last part only (a browser's name, never a path). The same files give the same
    folder, so saving them again writes nothing.
    """
    files = [(Path(name).name, data) for name, data in files]
    for name, _ in files:
        if name in ("", ".", ".."):
            raise ConfigError(f"an upload has no usable file name ({name!r}); rename the file and upload it again")
    h = hashlib.sha256()
    for name, data in files:
        h.update(name.encode() + data)
    folder = uploads_dir() / h.hexdigest()[:16]
    for name, data in files:
        target = folder / name
        if not target.is_file():
            with atomic_write(target) as tmp:
                tmp.write_bytes(data)
    return folder
