"""parawire's ground floor of file I/O: atomic writes, bounded reads and strict JSON.

Writes. A file is written under a temporary name in its own folder (``.NAME.XXXX.tmp``) and
renamed over ``NAME`` with ``os.replace``, so a reader sees the old file or the new one, never
half of one. A process killed mid-write leaves its temporary file; :func:`remove_stale_temps`
removes those when the next run starts in the folder. :func:`staged_folder` does the same for a
folder of several files (an export): all of them appear, or none.

Reads. Every file parawire reads whole (specs, plans, profiles, results JSON, manifests, search
configs and spaces) goes through :func:`read_bounded`: it refuses what is not a regular file (a
FIFO would block forever, ``/dev/zero`` never ends, a folder is a mistake) and any file over
its cap (``MAX_READ_BYTES`` unless the caller names a smaller one), with one-line errors, and
never reads more than cap + 1 bytes. ``inside=FOLDER`` also refuses a path (or a symbolic link)
that leads out of ``FOLDER``: a shared folder cannot make parawire read elsewhere.

JSON. :func:`parse_json` rejects duplicate keys (the second would silently win) and, when asked,
NaN and Infinity; :func:`dumps_strict` writes strict JSON: a non-finite number becomes ``null``
and the document's ``"non_finite"`` object says which fields and why.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from parawire.errors import DataError, ParawireError

MAX_READ_BYTES = 64 * 2**20  # default cap of a file read whole: 100x the largest spec we make
NON_FINITE_KEY = "non_finite"  # dumps_strict: field path -> "nan" / "inf" / "-inf"


def _temp_prefix(name: str) -> str:
    return f".{name}."


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file over ``path`` (folders made)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Atomically write ``rows`` as CSV with a header of ``columns`` (other keys left out)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def write_json(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented strict JSON (:func:`dumps_strict`), newline-ended."""
    atomic_write_text(path, dumps_strict(data, indent=1) + "\n")


@contextlib.contextmanager
def staged_folder(folder: Path) -> Iterator[Path]:
    """A fresh temporary folder next to ``folder`` to write into; on success its files are moved
    into ``folder`` (made if absent), on any error it is removed: nothing half-written remains.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        yield stage
        folder.mkdir(exist_ok=True)
        for item in sorted(stage.iterdir()):
            target = folder / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# --- bounded reads --------------------------------------------------------------------------


def check_inside(
    path: Path, folder: Path, what: str, error: type[ParawireError] = DataError
) -> Path:
    """``path`` resolved (links followed); ``error`` when it leads out of ``folder``."""
    real, root = Path(path).resolve(), Path(folder).resolve()
    if real != root and root not in real.parents:
        raise error(
            f"{path} leads out of {folder} (to {real}); a {what} is read only from inside its "
            "folder: copy the file itself there instead of a link"
        )
    return real


def read_bounded(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    limit: int = MAX_READ_BYTES,
    inside: Path | None = None,
    error: type[ParawireError] = DataError,
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    ``error`` (a ``ParawireError`` class: the one the caller's users expect) in one line when
    the file is absent, unreadable, not a regular file (a FIFO, a device such as /dev/zero, a
    folder), over ``limit`` bytes, or (with ``inside``) out of that folder. A FIFO is opened
    without blocking and refused; a file that grows while it is read is read to ``limit + 1``
    bytes and refused.
    """
    path = Path(path)
    if inside is not None:
        check_inside(path, inside, what, error)
    fd = _open_regular(path, what, error)
    mode = os.fstat(fd)
    with os.fdopen(fd, "rb") as f:
        too_big = f"{path} is over {limit:,} bytes, larger than any {what} parawire reads"
        if mode.st_size > limit:
            raise error(too_big)
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(too_big)
    return data


def read_text(path: str | os.PathLike[str], **kw: Any) -> str:
    """:func:`read_bounded` decoded as UTF-8 (same keywords; the error when it is not UTF-8)."""
    data = read_bounded(path, **kw)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        error = kw.get("error", DataError)
        raise error(f"{path} is not UTF-8 text; give the {kw.get('what', 'file')} itself") from None


def read_json(path: str | os.PathLike[str], *, finite: bool = False, **kw: Any) -> Any:
    """:func:`read_bounded` parsed by :func:`parse_json` (same keywords; ``finite``: no NaN)."""
    data = read_bounded(path, **kw)
    return parse_json(
        data,
        origin=str(path),
        finite=finite,
        error=kw.get("error", DataError),
    )


# --- strict JSON ----------------------------------------------------------------------------


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a JSON object, refused when a key appears twice."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise _NonFinite(name)


def parse_json(
    text: str | bytes,
    *,
    origin: str = "<string>",
    finite: bool = False,
    error: type[ParawireError] = DataError,
) -> Any:
    """Parsed JSON; ``error`` in one line when it is not JSON, nested too deeply, repeats a key
    in one object, or (``finite``) holds NaN or Infinity."""
    hooks: dict[str, Any] = {"object_pairs_hook": _unique_keys}
    if finite:
        hooks["parse_constant"] = _reject_constant
    try:
        return json.loads(text, **hooks)
    except _DuplicateKey as exc:
        key = exc.key if len(exc.key) <= 40 else exc.key[:37] + "..."
        raise error(
            f"{origin}: key {key!r} appears twice in one JSON object; keep one of them"
        ) from None
    except _NonFinite as exc:
        raise error(f"{origin}: {exc} is not a number JSON allows; use a number") from None
    except RecursionError:
        raise error(f"{origin}: its JSON is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise error(f"{origin}: invalid JSON ({exc})") from None
    except ValueError:  # UnicodeDecodeError, or an integer of thousands of digits
        raise error(f"{origin}: not UTF-8 JSON text, or a number in it is too long") from None


def finite_json(data: Any) -> tuple[Any, dict[str, str]]:
    """(``data`` with every non-finite float replaced by None, {field path: "nan"/"inf"/"-inf"})."""
    found: dict[str, str] = {}

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            found[where or "."] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            return None
        if isinstance(value, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    return walk(data, ""), found


def dumps_strict(data: Any, **kw: Any) -> str:
    """Strict JSON text of ``data`` (``json.dumps`` keywords): a NaN or infinity is written as
    ``null``, and a top-level object gains ``"non_finite"``: each such field and what it was.

    A number that is not finite says a computation failed (a NaN in a comparison); strict
    readers (JavaScript, jq, Go) refuse NaN, and a null without its reason would hide it.
    """
    clean, found = finite_json(data)
    if found and isinstance(clean, dict):
        clean = {**clean, NON_FINITE_KEY: found}
    return json.dumps(clean, allow_nan=False, **kw)


def remove_stale_temps(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` left for ``names`` in ``folder``.

    Call it when a new run starts in the folder (one run per folder, so no write of another
    run is under way).
    """
    removed = []
    if folder.is_dir():
        for name in names:
            for tmp in folder.glob(f"{glob.escape(_temp_prefix(name))}*.tmp"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


# --- safetensors headers --------------------------------------------------------------------

MAX_SAFETENSORS_HEADER = 100 * 2**20  # the safetensors library's own cap on its JSON header
_ST_DTYPE_BYTES = {
    **dict.fromkeys(("BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2"), 1),
    **dict.fromkeys(("I16", "U16", "F16", "BF16"), 2),
    **dict.fromkeys(("I32", "U32", "F32"), 4),
    **dict.fromkeys(("I64", "U64", "F64"), 8),
}


def safetensors_shapes(
    path: str | os.PathLike[str],
    *,
    what: str = "weights file",
    inside: Path | None = None,
    error: type[ParawireError] = DataError,
) -> tuple[dict[str, tuple[int, ...]], int]:
    """({tensor name: shape}, bytes of all tensors) that a safetensors file declares, from its
    header alone (nothing else is read): what a caller checks before it loads the tensors.

    ``error`` in one line when the file is not a regular file, its header is not safetensors
    (too long, not JSON, a key twice), or a tensor's shape and offsets disagree.
    """
    path = Path(path)
    if inside is not None:
        check_inside(path, inside, what, error)
    head = _read_prefix(path, 8, what, error)
    size = int.from_bytes(head, "little") if len(head) == 8 else -1
    file_size = os.stat(path).st_size
    if not 2 <= size <= min(MAX_SAFETENSORS_HEADER, file_size - 8):
        found = f"its header length is {size:,}" if size >= 0 else f"{file_size} bytes"
        raise error(f"cannot read {what} {path}: corrupt or not a safetensors file ({found})")
    header = parse_json(
        _read_prefix(path, 8 + size, what, error)[8:], origin=f"{what} {path}", error=error
    )
    if not isinstance(header, dict):
        raise error(f"{what} {path} is not a safetensors file (its header is not an object)")
    shapes: dict[str, tuple[int, ...]] = {}
    total = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            shape = tuple(entry["shape"])
            begin, end = entry["data_offsets"]
            width = _ST_DTYPE_BYTES[entry["dtype"]]
            ok = all(type(d) is int and d >= 0 for d in (*shape, begin, end))
            ok = ok and end - begin == math.prod(shape) * width and end <= file_size - 8 - size
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise error(f"{what} {path}: tensor {name[:60]!r} is malformed in the header")
        shapes[name] = shape
        total += end - begin
    return shapes, total


def _read_prefix(path: Path, count: int, what: str, error: type[ParawireError]) -> bytes:
    """The first ``count`` bytes of the regular file ``path`` (``read_bounded``'s refusals)."""
    with os.fdopen(_open_regular(path, what, error), "rb") as f:
        return f.read(count)


def _open_regular(path: Path, what: str, error: type[ParawireError]) -> int:
    """A read-only descriptor of ``path``, opened without blocking (a FIFO is never waited on);
    ``error`` in one line when it is absent, unreadable or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise error(f"{path} is a folder; give the {what} itself")
        raise error(
            f"{path} is not a regular file (a pipe, device or socket); give the {what} itself"
        )
    return fd
