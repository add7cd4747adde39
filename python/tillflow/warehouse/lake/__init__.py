"""The Delta lake warehouse: Delta Lake tables on a local disk or S3."""

from tillflow.warehouse.lake._layout import PartitionSpec
from tillflow.warehouse.lake._warehouse import DeltaLake

__all__ = ["DeltaLake", "PartitionSpec"]
