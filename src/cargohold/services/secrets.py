"""Use cases for team secrets: the values workflow specs name as ``secret:NAME`` (in ``env``,
``s3-download@v1``'s ``secret-access-key``, ``git-checkout@v1``'s ``password``).

- A name is 1-100 letters, digits, ``_`` or ``-``, starting with a letter (``HF_TOKEN``,
  ``aws-secret``). Names are case-sensitive, as environment variables are.
- A value is any text of 1 byte to 64 KiB (UTF-8), without NUL characters (a job's
  environment cannot hold them).
- Values are encrypted before they reach the catalog, with the key that encrypts provider
  secrets (``crypto.py``: ``CARGOHOLD_SECRET_KEY`` or ``$CARGOHOLD_HOME/secret.key``), and are
  decrypted only by `reveal`, which the workflow runner calls for a job. Listings, errors and
  the objects returned here hold names and dates, never a value.
- `create` refuses a name the team already has (NameTaken, hinting at `update`), so a typo
  never overwrites another secret; `update` gives an existing secret a new value.
- Looking up a name the team does not have (including one no secret could have) is
  SecretNotFound, naming it.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from typing import Any

from cargohold.domain.workflows import Secret
from cargohold.errors import InvalidInput, InvalidName, SecretNotFound
from cargohold.services.context import Context

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,99}")
NAME_RULE = "1-100 letters, digits, '_' or '-', starting with a letter"
MAX_VALUE = 64 * 1024
"""Bytes of a value (UTF-8), at most."""
BINARY_HINT = "Encode a binary value (base64, for instance) and decode it in the job"


class SecretService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def _team(self) -> str:
        return self.ctx.team.id

    def create(self, name: str, value: str) -> Secret:
        check_name(name)
        return self.ctx.catalog.add_secret(self._team, name, self._seal(name, value))

    def update(self, name: str, value: str) -> Secret:
        """A new value for an existing secret."""
        check_lookup([name])
        return self.ctx.catalog.replace_secret(self._team, name, self._seal(name, value))

    def list(self) -> builtins.list[Secret]:
        return self.ctx.catalog.list_secrets(self._team)

    def delete(self, name: str) -> Secret:
        check_lookup([name])
        return self.ctx.catalog.delete_secret(self._team, name)

    def reveal(self, names: Sequence[str]) -> dict[str, str]:
        """The values of these secrets (each name once), for a job's environment. Missing
        ones are SecretNotFound naming the first (and listing the others): names no secret
        could have are reported before the catalog is asked."""
        wanted = check_lookup(names)
        sealed = self.ctx.catalog.sealed_secrets(self._team, wanted)
        missing = [n for n in wanted if n not in sealed]
        if missing:
            raise not_found(missing)
        return {name: self._open(name, sealed[name]) for name in wanted}

    def _seal(self, name: str, value: str) -> str:
        check_value(name, value)
        return self.ctx.stores.secrets.encrypt(value)

    def _open(self, name: str, sealed: str) -> str:
        return self.ctx.stores.secrets.decrypt_value(
            sealed,
            what=f"the secret {name}",
            again=f"give it again with: cargohold secrets update --name {name} --value -",
            secret=name,
        )


def is_name(name: str) -> bool:
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def check_name(name: str) -> str:
    if not is_name(name):
        raise InvalidName(
            f"Invalid secret name: {name!r}",
            hint=f"Use {NAME_RULE}, e.g. HF_TOKEN",
            name=_plain(name),
        )
    return name


def check_value(name: str, value: str) -> str:
    """A value a job's environment can hold, of 1 byte to MAX_VALUE. The messages name the
    secret, never the value."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"The value of secret {name} is empty",
            hint="A secret's value is 1 byte to 64 KiB of text",
            name=name,
        )
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        raise InvalidInput(
            f"The value of secret {name} is not valid UTF-8 text",
            hint=BINARY_HINT,
            name=name,
        ) from None
    if size > MAX_VALUE:
        raise InvalidInput(
            f"The value of secret {name} is too large: {size} bytes (at most {MAX_VALUE})",
            hint="Keep large files in a dataset and mount it as a job input",
            name=name,
        )
    if "\0" in value:
        raise InvalidInput(
            f"The value of secret {name} holds a NUL character",
            hint=f"A job's environment cannot hold NUL characters. {BINARY_HINT}",
            name=name,
        )
    return value


def check_lookup(names: Sequence[str]) -> list[str]:
    """Names looked up, each once in order: one no secret could have is not found (without
    asking the catalog)."""
    wanted = list(dict.fromkeys(names))
    invalid = [n for n in wanted if not is_name(n)]
    if invalid:
        raise not_found(invalid)
    return wanted


def not_found(names: Sequence[str]) -> SecretNotFound:
    first = names[0]
    more = f" (and {', '.join(map(_shown, names[1:]))})" if len(names) > 1 else ""
    several: dict[str, Any] = {"secrets": [_plain(n) for n in names]} if len(names) > 1 else {}
    return SecretNotFound(
        f"Secret not found: {_shown(first)}{more}", secret=_plain(first), **several
    )


def _shown(name: str) -> str:
    """A name as messages show it: quoted when no secret could have it (spaces, newlines)."""
    return name if is_name(name) else repr(name)


def _plain(name: str) -> str:
    """A name as error details carry it: text JSON can encode (unpaired surrogates escaped)."""
    return name.encode("utf-8", "backslashreplace").decode()
