"""(being written: issue 6)"""

from __future__ import annotations

from cargohold.client.http import HttpClient


class HttpSecrets:
    def __init__(self, api: HttpClient) -> None:
        self.api = api
