"""The run secret: a shared token that every rank and the driver must hold to take part in a run.

torch's TCPStore (the rendezvous) and gloo have no authentication: any process that reaches the
store's port can read and write its keys, and a process that writes a rank's join key can abort
a run. parawire therefore keeps every key a run reads under a namespace derived from a secret
that only the run's processes hold (``store_prefix``): a process without the secret cannot name
a key the run reads, so it cannot change the run's outcome. Each rank also announces the
fingerprint of its secret under a public key (``HELLO_KEY``), so that the driver says, in one
line, when a process with another secret (a stale plan folder, or someone else) tried to join.

The secret comes from ``PARAWIRE_SECRET`` when set, else from ``secret.token`` in the plan
folder, which ``Plan.save`` writes (32 random bytes, hex, mode 0600) when the folder has none;
copying the plan folder to every device copies the secret with it. It is not a substitute for a
private network: gloo's tensors still travel unencrypted (docs/runtime.md, "Security").
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from parawire.errors import ConfigError
from parawire.filenames import SECRET_FILE

SECRET_ENV = "PARAWIRE_SECRET"  # overrides the plan folder's token
HELLO_KEY = "parawire/hello/{rank}"  # public: the fingerprint of the rank's secret
PUBLIC_KEYS = ("parawire/joined/{rank}", "parawire/checked/{rank}")  # names older runs used
MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 4096


def new_secret() -> str:
    """A fresh random secret (256 bits, hex)."""
    return secrets.token_hex(32)


def write_secret(directory: Path) -> None:
    """Write a fresh ``secret.token`` into ``directory`` unless it holds one (mode 0600)."""
    path = directory / SECRET_FILE
    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(new_secret() + "\n")


def load_secret(directory: str | Path | None) -> str:
    """The run secret: ``PARAWIRE_SECRET``, else ``secret.token`` in the plan ``directory``.

    A missing, empty or malformed secret is a one-line ``ConfigError`` saying how to make one.
    """
    text = os.environ.get(SECRET_ENV)
    where = f"${SECRET_ENV}"
    if text is None:
        path = Path(directory) / SECRET_FILE if directory is not None else None
        if path is None or not path.is_file():
            raise ConfigError(
                f"no run secret: {SECRET_FILE} is missing from the plan folder and "
                f"{SECRET_ENV} is not set; remake the plan with `parawire plan` (it writes one) "
                f"or set the same {SECRET_ENV} on every device"
            )
        with path.open("rb") as f:
            text = f.read(MAX_SECRET_CHARS + 1).decode("utf-8", "replace")
        where = str(path)
    text = text.strip()
    if not MIN_SECRET_CHARS <= len(text) <= MAX_SECRET_CHARS:
        raise ConfigError(
            f"the run secret in {where} must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} "
            f"characters, got {len(text)}; write a long random token (e.g. `openssl rand -hex 32`)"
        )
    return text


def _digest(purpose: str, secret: str) -> str:
    """SHA-256 of ``secret`` for one ``purpose`` (the namespace and the fingerprint differ, so
    the public fingerprint does not reveal the namespace)."""
    return hashlib.sha256(f"parawire {purpose}\0{secret}".encode()).hexdigest()


def store_prefix(secret: str) -> str:
    """The store namespace of the run holding ``secret`` (unguessable without it)."""
    return f"parawire/run/{_digest('namespace', secret)}/"


def fingerprint(secret: str) -> str:
    """A short public name of ``secret``: equal for ranks that hold the same one."""
    return _digest("fingerprint", secret)[:12]
