"""(being written: issue 6)"""

from __future__ import annotations

from cargohold.catalog.catalog import CatalogBase


class LineageCatalog(CatalogBase):
    pass
