"""The bundled catalogs of chips, systems and models, each figure with its source."""

from suanli.catalog.loader import Catalog, catalog, norm

__all__ = ["Catalog", "catalog", "norm"]
