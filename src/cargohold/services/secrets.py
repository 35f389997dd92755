"""(being written: issue 6)"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from cargohold.domain.workflows import Secret
from cargohold.services.context import Context


class SecretService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, name: str, value: str) -> Secret:
        raise NotImplementedError

    def list(self) -> builtins.list[Secret]:
        raise NotImplementedError

    def delete(self, name: str) -> Secret:
        raise NotImplementedError

    def reveal(self, names: Sequence[str]) -> dict[str, str]:
        raise NotImplementedError
