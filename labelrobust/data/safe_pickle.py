"""Reading untrusted pickle files without running their code.

A pickle can name any importable callable (``GLOBAL`` / ``STACK_GLOBAL`` opcodes) and call
it (``REDUCE``), so ``pickle.load`` on a downloaded file can run arbitrary code (Python
documentation, "pickle — Python object serialization", warning at the top). Every object a
pickle builds from outside the built-in containers comes through ``Unpickler.find_class``;
``RestrictedUnpickler`` answers it only from an explicit allow-list, so a file can at most
build lists, dicts, tuples, strings, numbers and the allowed globals.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from labelrobust.errors import DataError

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2 has no numpy._core
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

# The globals a pickled numpy array needs (checked with ``pickletools.genops`` on the CIFAR
# batches: _reconstruct, ndarray, dtype). Files written under numpy 1 name the private
# module ``numpy.core.multiarray``, numpy 2 renamed it ``numpy._core.multiarray``: both
# names map to the same function, so old files load without importing the deprecated alias.
NUMPY_ARRAY_GLOBALS: Mapping[tuple[str, str], Any] = {
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

# Errors a corrupt or truncated pickle stream raises while being read.
_READ_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    UnicodeDecodeError,
    OverflowError,
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``allowed``.

    ``allowed`` maps ``(module, name)`` to the object to use; an empty mapping admits no
    globals at all, so only built-in opcodes (lists, tuples, dicts, numbers, strings) work.
    Any other global raises ``DataError`` naming it, before it is imported.
    """

    def __init__(
        self,
        file: BinaryIO,
        allowed: Mapping[tuple[str, str], Any],
        *,
        source: str,
        encoding: str = "ASCII",
    ) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = dict(allowed)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            admitted = ", ".join(f"{m}.{n}" for m, n in self._allowed) or "none"
            raise DataError(
                f"{self._source}: the pickle references the forbidden global {module}.{name}; "
                f"allowed globals: {admitted}"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        # Persistent ids are another way to inject objects; no data file of ours uses them.
        raise DataError(f"{self._source}: the pickle uses a persistent id ({pid!r}), which is not allowed")


def load_restricted(
    path: Path, allowed: Mapping[tuple[str, str], Any], *, encoding: str = "ASCII"
) -> Any:
    """The object pickled in ``path``, read with ``RestrictedUnpickler(allowed)``.

    ``encoding="latin1"`` reads Python 2 pickles whose byte strings hold binary data
    (e.g. the CIFAR batches), as the ``pickle`` documentation recommends for numpy arrays.
    """
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, allowed, source=str(path), encoding=encoding).load()
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except _READ_ERRORS as exc:
        raise DataError(
            f"{path} is not a readable pickle ({type(exc).__name__}: {exc}); "
            "expected the file as published, not truncated or re-encoded"
        ) from exc
