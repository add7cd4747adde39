"""The Delta lake warehouse: Delta Lake tables on a local disk or S3."""

from tillflow.warehouse.delta._layout import PartitionSpec
from tillflow.warehouse.delta._warehouse import DeltaLake

__all__ = ["DeltaLake", "PartitionSpec"]
