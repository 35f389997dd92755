"""(being written: issue 6)"""

from __future__ import annotations

from cargohold.services.context import Context


class WorkflowService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
