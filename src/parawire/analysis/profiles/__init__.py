"""Device and link profiles: how fast a device computes and how fast tensors travel between two.

Built-in profiles (``rpi4-wifi``, ``rpi4-ethernet``, ``t2micro``, ``local-cpu``, ``ideal``) live
in ``builtin.toml``; users add their own in TOML files, and ``parawire calibrate`` measures this
machine. See ``docs/profiles.md`` for each figure's source and the file format.
"""

from parawire.analysis.profiles._base import DeviceProfile, LinkProfile, Profile
from parawire.analysis.profiles._registry import (
    BUILTIN_FILE,
    available_profiles,
    create_profile,
    list_profiles,
    load_profiles,
    profile_origin,
    register_profile,
    save_profile,
    shadows_builtin,
    unregister_profile,
    user_profile_file,
)
from parawire.analysis.profiles._toml import dump_profiles, parse_profiles

__all__ = [
    "BUILTIN_FILE",
    "DeviceProfile",
    "LinkProfile",
    "Profile",
    "available_profiles",
    "create_profile",
    "dump_profiles",
    "list_profiles",
    "load_profiles",
    "parse_profiles",
    "profile_origin",
    "register_profile",
    "save_profile",
    "shadows_builtin",
    "unregister_profile",
    "user_profile_file",
]
