"""Team secrets (services/protocol.py `SecretsAPI`) over the HTTP API (api/secrets.py).

Names and values are checked here with the service's own rules before they are sent: the
errors are the same as in-process, a value too large never travels, and text JSON cannot
carry (unpaired surrogates, as a command line of invalid UTF-8 gives) never reaches the
encoder.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from cargohold.client import decode
from cargohold.client.http import HttpClient, ref_path
from cargohold.domain.workflows import Secret
from cargohold.services.secrets import check_lookup, check_name, check_value

ROOT = "/api/v1/secrets"


class HttpSecrets:
    def __init__(self, api: HttpClient) -> None:
        self.api = api

    def create(self, name: str, value: str) -> Secret:
        check_value(check_name(name), value)
        return decode.secret(self.api.call("POST", ROOT, json={"name": name, "value": value}))

    def update(self, name: str, value: str) -> Secret:
        check_lookup([name])
        check_value(name, value)
        path = f"{ROOT}/{ref_path(name)}"
        return decode.secret(self.api.call("PATCH", path, json={"value": value}))

    def list(self) -> builtins.list[Secret]:
        return [decode.secret(j) for j in self.api.call("GET", ROOT)]

    def delete(self, name: str) -> Secret:
        check_lookup([name])
        return decode.secret(self.api.call("DELETE", f"{ROOT}/{ref_path(name)}"))

    def reveal(self, names: Sequence[str]) -> dict[str, str]:
        wanted = check_lookup(names)
        found: dict[str, str] = self.api.call("POST", f"{ROOT}/reveal", json={"names": wanted})
        return found
