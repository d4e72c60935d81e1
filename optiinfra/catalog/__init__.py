"""Bundled EC2 GPU price catalog: specs, on-demand, spot and reserved prices per region."""

from optiinfra.catalog.loader import PriceCatalog

__all__ = ["PriceCatalog"]
