"""The profile registry: built-in profiles, user profile files and run-time registrations.

Lookup order of ``create_profile(name)`` (first match wins):

1. profiles registered in this process with ``register_profile``;
2. the TOML files listed in ``$PARAWIRE_PROFILES`` (separated by ``os.pathsep``), later files
   overriding earlier ones;
3. the user's profile file, ``$XDG_CACHE_HOME/parawire/profiles.toml`` (default
   ``~/.cache/parawire/profiles.toml``), which ``parawire calibrate`` writes;
4. the built-in profiles (``builtin.toml`` next to this module).

A name that is none of these but a path to a TOML file (``FILE.toml``, or ``FILE.toml#NAME``
to pick one of several profiles in it) is loaded from that file.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from parawire._io import atomic_write_text
from parawire.analysis.profiles._base import DeviceProfile, LinkProfile, Profile
from parawire.analysis.profiles._toml import dump_profiles, read_profile_file
from parawire.errors import ConfigError
from parawire.filenames import PROFILES_FILE, user_cache_dir
from parawire.registry import lookup

BUILTIN_FILE = Path(__file__).with_name("builtin.toml")
ENV_VAR = "PARAWIRE_PROFILES"

_REGISTERED: dict[str, Profile] = {}


@cache
def _builtin() -> tuple[dict[str, Profile], dict[str, DeviceProfile], dict[str, LinkProfile]]:
    return read_profile_file(BUILTIN_FILE)


@cache
def _read_cached(
    path: str, mtime_ns: int
) -> tuple[dict[str, Profile], dict[str, DeviceProfile], dict[str, LinkProfile]]:
    _, devices, links = _builtin()
    return read_profile_file(path, devices=devices, links=links)


def user_profile_file() -> Path:
    """The per-user profile file that ``parawire calibrate`` writes by default."""
    return user_cache_dir() / PROFILES_FILE


def _listed_files() -> list[Path]:
    """The files ``$PARAWIRE_PROFILES`` lists, in its order."""
    return [
        Path(item).expanduser() for item in os.environ.get(ENV_VAR, "").split(os.pathsep) if item
    ]


def _user_files() -> list[Path]:
    """Profile files consulted before the built-ins, lowest priority first."""
    files = []
    default = user_profile_file()
    if default.is_file():
        files.append(default)
    for path in _listed_files():
        if not path.is_file():
            raise ConfigError(
                f"${ENV_VAR} lists {str(path)!r}, which is not a file; fix or unset it"
            )
        files.append(path)
    return files


def shadows_builtin(name: str, file: str | os.PathLike[str]) -> bool:
    """Whether a profile ``name`` written into ``file`` hides the built-in profile of that name
    from every lookup by name (``file``: the user's profile file, or one $PARAWIRE_PROFILES
    lists)."""
    if name not in _builtin()[0]:
        return False
    target = Path(file).expanduser().resolve()
    return any(target == path.resolve() for path in [user_profile_file(), *_listed_files()])


def profile_origin(profile: str | os.PathLike[str] | Profile) -> str:
    """Where a profile's figures come from, for every output that names it: ``built-in``, its
    file (and that it shadows the built-in of its name, when it does) or ``made in code``."""
    prof = create_profile(profile)
    if not prof.file:
        return "made in code"
    if Path(prof.file) == BUILTIN_FILE:
        return "built-in"
    shadowing = prof.name in _builtin()[0] and create_profile(prof.name).file == prof.file
    return f"file {prof.file}" + (", shadowing the built-in" if shadowing else "")


def load_profiles(path: str | os.PathLike[str]) -> dict[str, Profile]:
    """The profiles defined in a TOML file (devices and links may name built-in ones)."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise ConfigError(f"profile file {path} does not exist") from None
    return dict(_read_cached(str(path.resolve()), mtime)[0])


def available_profiles() -> dict[str, Profile]:
    """Every profile reachable by name, after applying the lookup order."""
    profiles = dict(_builtin()[0])
    for path in _user_files():
        profiles.update(load_profiles(path))
    profiles.update(_REGISTERED)
    return profiles


def list_profiles() -> list[str]:
    """Names of all profiles reachable by name, sorted."""
    return sorted(available_profiles())


def register_profile(profile: Profile, *, replace: bool = False) -> None:
    """Make ``profile`` reachable by its name; ``replace=True`` to shadow an existing one."""
    if not isinstance(profile, Profile):
        raise ConfigError(f"register_profile takes a Profile, got {type(profile).__name__}")
    if not replace and profile.name in available_profiles():
        raise ConfigError(
            f"profile {profile.name!r} already exists; pass replace=True to shadow it"
        )
    _REGISTERED[profile.name] = profile


def unregister_profile(name: str) -> None:
    """Remove a run-time registration (built-in and file profiles are untouched)."""
    _REGISTERED.pop(name, None)


def create_profile(name_or_path: str | os.PathLike[str] | Profile) -> Profile:
    """A profile by name (lookup order in this module's docstring) or from a TOML file."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    key = os.fspath(name_or_path)
    profiles = available_profiles()
    file_part, _, wanted = key.partition("#")
    if key not in profiles and (file_part.endswith(".toml") or Path(file_part).is_file()):
        return _from_file(file_part, wanted)
    return lookup(
        "profile",
        profiles,
        key,
        ", or give a TOML file (FILE.toml or FILE.toml#NAME; format in docs/profiles.md)",
    )


def _from_file(path: str, wanted: str) -> Profile:
    found = load_profiles(path)
    if wanted:
        if wanted not in found:
            raise ConfigError(
                f"profile file {path} has no profile {wanted!r}; it has "
                f"{', '.join(sorted(found)) or 'none'}"
            )
        return found[wanted]
    if len(found) != 1:
        raise ConfigError(
            f"profile file {path} holds {len(found)} profiles ({', '.join(sorted(found))}); "
            f"pick one with {path}#NAME"
        )
    return next(iter(found.values()))


def save_profile(profile: Profile, path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``profile`` into a profile file (default: the user's), keeping its other profiles."""
    target = Path(path) if path is not None else user_profile_file()
    kept: dict[str, Profile] = {}
    if target.is_file():
        try:
            kept = load_profiles(target)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; move the file away or choose another --out") from None
    kept[profile.name] = profile
    header = "# parawire device profiles (format: docs/profiles.md)\n\n"
    atomic_write_text(target, header + dump_profiles(kept.values()))
    return target
