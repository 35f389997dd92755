"""Secrets at rest: provider secrets and team secrets (services/secrets.py) are encrypted
before they reach the catalog; provider secrets are decrypted only to open a byte store, team
secrets only for a job's environment.

The key is ``CARGOHOLD_SECRET_KEY`` (any string) or, when that is unset, a random string
generated once into ``$CARGOHOLD_HOME/secret.key`` (mode 0600). Either text goes through
SHA-256 into a Fernet key, so the key file's content can later be moved into
``CARGOHOLD_SECRET_KEY`` unchanged. A stored secret reads ``enc:v1:<Fernet token>``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cargohold.domain.models import StorageProvider
from cargohold.errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

PREFIX = "enc:v1:"
KEY_FILE = "secret.key"
SECRET_FIELDS = frozenset({"secretAccessKey"})
"""Config keys of a provider that are encrypted at rest."""

_KEY_FILE_WAIT = 2.0
"""Seconds to wait for a key file another process is still writing."""


class SecretBox:
    """Encrypts and decrypts provider and team secrets; never shows its key."""

    def __init__(self, secret_key: str | None, home: Path) -> None:
        self._secret_key = secret_key
        self.key_file = home / KEY_FILE
        self._fernet: Fernet | None = None

    def __repr__(self) -> str:
        source = "CARGOHOLD_SECRET_KEY" if self._secret_key else str(self.key_file)
        return f"SecretBox(key from {source})"

    # -- whole configs ------------------------------------------------------------------

    def seal(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config as it is stored: secret fields encrypted (already sealed ones kept)."""
        return {k: self._seal_value(k, v) for k, v in config.items()}

    def unseal(self, provider: StorageProvider) -> dict[str, Any]:
        """The provider's config with its secrets in clear, to open its store (only)."""
        return {k: self._unseal_value(provider, k, v) for k, v in provider.config.items()}

    def _seal_value(self, key: str, value: Any) -> Any:
        if key not in SECRET_FIELDS or is_sealed(value):
            return value
        return self.encrypt(str(value))

    def _unseal_value(self, provider: StorageProvider, key: str, value: Any) -> Any:
        if key not in SECRET_FIELDS or not is_sealed(value):
            return value
        return self.decrypt(value, provider)

    # -- single values ------------------------------------------------------------------

    # `cryptography` is imported where a secret is sealed or opened, not at start-up.

    def encrypt(self, plain: str) -> str:
        token = self._key(create=True).encrypt(plain.encode()).decode("ascii")
        return PREFIX + token

    def decrypt(self, stored: str, provider: StorageProvider) -> str:
        again = f"cargohold storageProviders update s3 --id {provider.id} --secretAccessKey ..."
        return self.decrypt_value(
            stored,
            what=f"the secret of provider {provider.name} ({provider.id})",
            again=f"give the provider its secret again with: {again}",
            storageProviderId=provider.id,
        )

    def decrypt_value(self, stored: str, *, what: str, again: str, **details: Any) -> str:
        """The clear text of a value `encrypt` made. One made with another key is a
        ConfigurationError naming `what`, whose hint ends with `again` (how to give the value
        anew); `details` go into the error."""
        from cryptography.fernet import InvalidToken

        try:
            return self._key(create=False).decrypt(stored[len(PREFIX) :].encode()).decode()
        except (InvalidToken, ValueError):
            raise ConfigurationError(
                f"cannot decrypt {what}: CARGOHOLD_SECRET_KEY changed?",
                hint=self._recovery_hint(again),
                **details,
            ) from None

    def _recovery_hint(self, again: str) -> str:
        where = (
            "set CARGOHOLD_SECRET_KEY back to the value it had"
            if self._secret_key
            else f"restore {self.key_file} (or set CARGOHOLD_SECRET_KEY to the key used)"
        )
        return f"The secret was encrypted with another key: {where}, or {again}"

    # -- the key ------------------------------------------------------------------------

    def _key(self, *, create: bool) -> Fernet:
        from cryptography.fernet import Fernet, InvalidToken

        if self._fernet is None:
            text = self._secret_key or read_key_file(self.key_file, create=create)
            if text is None:
                raise InvalidToken  # no key at all: nothing stored can be decrypted
            self._fernet = Fernet(derive_key(text))
        return self._fernet


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def derive_key(text: str) -> bytes:
    """A Fernet key from any string (surrounding whitespace ignored): its SHA-256, urlsafe
    base64."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.strip().encode()).digest())


def read_key_file(path: Path, *, create: bool) -> str | None:
    """The key in `path`; made once (mode 0600) when absent and `create`. Concurrent first
    runs agree: the file appears whole and exactly once (hard link of a finished temp file,
    or O_EXCL where links are not supported), and the loser reads the winner's key."""
    deadline = time.monotonic() + _KEY_FILE_WAIT
    while True:
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            if not create:
                return None
            _create_key_file(path)
            continue
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read the secret key file {path}: {exc.strerror or exc}",
                hint="Check its permissions, or set CARGOHOLD_SECRET_KEY",
            ) from None
        if text:
            return text
        if time.monotonic() > deadline:
            raise ConfigurationError(
                f"The secret key file {path} is empty",
                hint="Restore it from a backup, or set CARGOHOLD_SECRET_KEY",
            )
        time.sleep(0.01)  # another process is writing it (the O_EXCL fallback)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    content = (secrets.token_urlsafe(32) + "\n").encode()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    _write_new(tmp, content)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another first run won; its key is the key
    except OSError:  # no hard links on this filesystem
        with contextlib.suppress(FileExistsError):
            _write_new(path, content)
    finally:
        tmp.unlink(missing_ok=True)


def _write_new(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
