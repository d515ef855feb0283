"""Reading and writing profile files (TOML).

A file holds any number of profiles under ``[profiles.NAME]``. A profile's ``device`` and
``link`` are either tables of their own or the name of an entry of the file's ``[devices]`` /
``[links]`` sections (or of the built-in file's), so several profiles can share one device::

    [devices.rpi4]
    flops_per_s = 3.64e10          # effective FLOP/s (1 MAC = 2 FLOPs)
    overhead_s = 5e-5              # per-vertex fixed cost
    op_flops_per_s = { sepconv3x3 = 1.0e10 }   # optional per-operation rates
    # optional, written by `parawire calibrate`: per work kind (parawire.analysis.work)
    # kind_rates = { conv1x1 = 2e10, dwconv = 3e9, bn = 1e9, ... }   # FLOP/s or elements/s
    # kind_call_s = { conv1x1 = 2e-5, bn = 5e-6, ... }               # per operator call
    # dispatch_s = 1e-5   # per vertex: running a network vertex by vertex, measured in context

    [links.wifi]
    bandwidth_bytes_per_s = 5.0e6
    latency_s = 2.0e-3

    [profiles.rpi4-wifi]
    device = "rpi4"
    link = "wifi"
    description = "Raspberry Pi 4 (4 threads) over 802.11ac WiFi"
    source = "..."

Any mistake (bad TOML, unknown key, missing field, wrong type) raises ``ConfigError`` naming
the file and the key.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from parawire._io import read_text
from parawire.analysis.profiles._base import DeviceProfile, LinkProfile, Profile
from parawire.errors import ConfigError

MAX_PROFILE_BYTES = 4 * 2**20  # a profile file is a few KiB; larger ones are refused unread

_DEVICE_KEYS = {
    "name",
    "flops_per_s",
    "op_flops_per_s",
    "overhead_s",
    "dispatch_s",
    "kind_rates",
    "kind_call_s",
}
_DEVICE_TABLES = ("op_flops_per_s", "kind_rates", "kind_call_s")
_LINK_KEYS = {"name", "bandwidth_bytes_per_s", "latency_s"}
_PROFILE_KEYS = {
    "device",
    "link",
    "description",
    "source",
    "compute_range",
    "link_range",
    "estimate",
    "spread",
}
_TOP_KEYS = {"profiles", "devices", "links"}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_Part = TypeVar("_Part", DeviceProfile, LinkProfile)


def read_profile_file(
    path: str | Path,
    *,
    devices: Mapping[str, DeviceProfile] | None = None,
    links: Mapping[str, LinkProfile] | None = None,
) -> tuple[dict[str, Profile], dict[str, DeviceProfile], dict[str, LinkProfile]]:
    """(profiles, devices, links) defined in a TOML file; ``devices``/``links`` resolve names."""
    text = read_text(path, what="profile file", limit=MAX_PROFILE_BYTES, error=ConfigError)
    return parse_profiles(text, origin=str(path), devices=devices, links=links)


def parse_profiles(
    text: str,
    *,
    origin: str = "<string>",
    devices: Mapping[str, DeviceProfile] | None = None,
    links: Mapping[str, LinkProfile] | None = None,
) -> tuple[dict[str, Profile], dict[str, DeviceProfile], dict[str, LinkProfile]]:
    """Parse profile TOML text; ``origin`` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profile file {origin}: not valid TOML ({exc})") from None
    _no_unknown(origin, "the top level", data, _TOP_KEYS)
    local_devices = {
        name: _device(origin, f"devices.{name}", name, body)
        for name, body in _section(origin, data, "devices").items()
    }
    local_links = {
        name: _link(origin, f"links.{name}", name, body)
        for name, body in _section(origin, data, "links").items()
    }
    known_devices = {**(devices or {}), **local_devices}
    known_links = {**(links or {}), **local_links}
    profiles = {
        name: _profile(origin, name, body, known_devices, known_links)
        for name, body in _section(origin, data, "profiles").items()
    }
    return profiles, local_devices, local_links


def dump_profiles(profiles: Iterable[Profile]) -> str:
    """TOML text that ``parse_profiles`` reads back into equal profiles (self-contained)."""
    lines: list[str] = []
    for p in profiles:
        key = _key(p.name)
        lines += [
            f"[profiles.{key}]",
            f"description = {_str(p.description)}",
            f"source = {_str(p.source)}",
            f"compute_range = [{p.compute_range[0]!r}, {p.compute_range[1]!r}]",
            f"link_range = [{p.link_range[0]!r}, {p.link_range[1]!r}]",
            f"estimate = {'true' if p.estimate else 'false'}",
            f"spread = {p.spread!r}",
            "",
            f"[profiles.{key}.device]",
            f"name = {_str(p.device.name)}",
            f"flops_per_s = {float(p.device.flops_per_s)!r}",
            f"overhead_s = {float(p.device.overhead_s)!r}",
        ]
        if p.device.dispatch_s:
            lines.append(f"dispatch_s = {float(p.device.dispatch_s)!r}")
        for table in _DEVICE_TABLES:
            if values := getattr(p.device, table):
                items = ", ".join(f"{_key(k)} = {float(v)!r}" for k, v in sorted(values.items()))
                lines.append(f"{table} = {{ {items} }}")
        lines += [
            "",
            f"[profiles.{key}.link]",
            f"name = {_str(p.link.name)}",
            f"bandwidth_bytes_per_s = {float(p.link.bandwidth_bytes_per_s)!r}",
            f"latency_s = {float(p.link.latency_s)!r}",
            "",
        ]
    return "\n".join(lines)


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _section(origin: str, data: dict[str, Any], key: str) -> dict[str, Any]:
    section = data.get(key, {})
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise ConfigError(f"profile file {origin}: [{key}] must hold one table per entry")
    return section


def _no_unknown(origin: str, where: str, body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ConfigError(
            f"profile file {origin}: unknown key(s) {', '.join(unknown)} in {where}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _number(origin: str, where: str, body: dict[str, Any], key: str, default: Any = None) -> float:
    value = body.get(key, default)
    if value is None:
        raise ConfigError(f"profile file {origin}: {where} needs {key} (a number)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"profile file {origin}: {where}.{key} must be a number, got {value!r}")
    return float(value)


def _text(origin: str, where: str, body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"profile file {origin}: {where}.{key} must be a string, got {value!r}")
    return value


def _device(origin: str, where: str, default_name: str, body: dict[str, Any]) -> DeviceProfile:
    _no_unknown(origin, where, body, _DEVICE_KEYS)
    tables: dict[str, dict[str, float]] = {}
    for table in _DEVICE_TABLES:
        values = body.get(table, {})
        if not isinstance(values, dict):
            raise ConfigError(f"profile file {origin}: {where}.{table} must be a table")
        tables[table] = {k: _number(origin, f"{where}.{table}", values, k) for k in values}
    try:
        return DeviceProfile(
            name=_text(origin, where, body, "name", default_name),
            flops_per_s=_number(origin, where, body, "flops_per_s"),
            overhead_s=_number(origin, where, body, "overhead_s", 0.0),
            dispatch_s=_number(origin, where, body, "dispatch_s", 0.0),
            **tables,
        )
    except ConfigError as exc:
        raise _located(origin, where, exc) from None


def _link(origin: str, where: str, default_name: str, body: dict[str, Any]) -> LinkProfile:
    _no_unknown(origin, where, body, _LINK_KEYS)
    try:
        return LinkProfile(
            name=_text(origin, where, body, "name", default_name),
            bandwidth_bytes_per_s=_number(origin, where, body, "bandwidth_bytes_per_s"),
            latency_s=_number(origin, where, body, "latency_s"),
        )
    except ConfigError as exc:
        raise _located(origin, where, exc) from None


def _located(origin: str, where: str, exc: ConfigError) -> ConfigError:
    msg = str(exc)
    return exc if msg.startswith("profile file") else ConfigError(f"profile file {origin}: {msg}")


def _profile(
    origin: str,
    name: str,
    body: dict[str, Any],
    devices: Mapping[str, DeviceProfile],
    links: Mapping[str, LinkProfile],
) -> Profile:
    where = f"profiles.{name}"
    _no_unknown(origin, where, body, _PROFILE_KEYS)
    device = _part(origin, where, "device", body, devices, _device)
    link = _part(origin, where, "link", body, links, _link)
    return Profile(
        name=name,
        device=device,
        link=link,
        description=_text(origin, where, body, "description", ""),
        source=_text(origin, where, body, "source", ""),
        compute_range=_range(origin, where, body, "compute_range"),
        link_range=_range(origin, where, body, "link_range"),
        estimate=_flag(origin, where, body, "estimate"),
        spread=_number(origin, where, body, "spread", 1.0),
        file=origin,
    )


def _range(origin: str, where: str, body: dict[str, Any], key: str) -> tuple[float, float]:
    """``[low, high]`` factors of a profile's times (default exact: [1.0, 1.0])."""
    value = body.get(key, [1.0, 1.0])
    if not (isinstance(value, list) and len(value) == 2):
        raise ConfigError(f"profile file {origin}: {where}.{key} must be [low, high]")
    low, high = (_number(origin, f"{where}.{key}", {"x": x}, "x") for x in value)
    return low, high


def _flag(origin: str, where: str, body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"profile file {origin}: {where}.{key} must be true or false")
    return value


def _part(
    origin: str,
    where: str,
    key: str,
    body: dict[str, Any],
    known: Mapping[str, _Part],
    build: Callable[[str, str, str, dict[str, Any]], _Part],
) -> _Part:
    """A profile's device or link: a table, or the name of a known entry."""
    value = body.get(key)
    if isinstance(value, dict):
        return build(origin, f"{where}.{key}", f"{where.split('.', 1)[1]}-{key}", value)
    if isinstance(value, str):
        if value not in known:
            raise ConfigError(
                f"profile file {origin}: {where}.{key} = {value!r} is not defined; "
                f"known {key}s: {', '.join(sorted(known)) or 'none'}"
            )
        return known[value]
    raise ConfigError(
        f"profile file {origin}: {where}.{key} must be a table or the name of a [{key}s] entry"
    )
