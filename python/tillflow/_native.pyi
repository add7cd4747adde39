"""Type stubs for the native module `tillflow._native` (Rust, via PyO3)."""

from types import TracebackType
from typing import TypedDict, final

import polars as pl

__all__ = [
    "DEBUG_BUILD",
    "AuthError",
    "BucketKernel",
    "ConfigError",
    "DailyKernel",
    "DemoShop",
    "HttpError",
    "Partial",
    "ResourceStream",
    "RowFailures",
    "RuleError",
    "SchemaError",
    "SegmentKernel",
    "SourceError",
    "TillflowError",
    "ValidationError",
    "Validator",
    "WarehouseError",
    "__version__",
    "check_pattern",
    "normalize_records",
    "open_resource",
]

__version__: str
DEBUG_BUILD: bool

class TillflowError(Exception): ...
class ConfigError(TillflowError): ...
class SourceError(TillflowError): ...

class HttpError(SourceError):
    status: int | None
    url: str | None

class AuthError(HttpError): ...
class SchemaError(TillflowError): ...
class RuleError(TillflowError): ...
class ValidationError(TillflowError): ...
class WarehouseError(TillflowError): ...

# Stub-only: what `ResourceStream.__next__` returns (a plain dict at runtime).
class Batch(TypedDict):
    tables: dict[str, pl.DataFrame]
    records: int
    pages: int
    cursor: str | None
    last: bool

@final
class ResourceStream:
    @property
    def name(self) -> str: ...
    def __iter__(self) -> ResourceStream: ...
    def __next__(self) -> Batch: ...
    def close(self) -> None: ...

def open_resource(spec_json: str) -> ResourceStream: ...
def normalize_records(
    name: str,
    records_json: bytes,
    primary_key: list[str] = ...,
    options_json: str | None = None,
) -> dict[str, pl.DataFrame]: ...

@final
class DemoShop:
    def __new__(
        cls,
        orders: int = 2000,
        *,
        seed: int = 42,
        token: str = ...,  # "shpat_demo"
        host: str = ...,  # "127.0.0.1"
        port: int = 0,
        fail_after_pages: int | None = None,
        fail_status: int = 500,
        malformed_page: int | None = None,
    ) -> DemoShop: ...
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def orders(self) -> int: ...
    @property
    def api_version(self) -> str: ...
    @property
    def requests(self) -> int: ...
    def stop(self) -> None: ...
    def __enter__(self) -> DemoShop: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

@final
class RowFailures:
    def mask(self, severity: str | None = None) -> pl.Series: ...
    def rules(self, severity: str | None = None) -> pl.DataFrame: ...

@final
class Validator:
    def __new__(cls, spec_json: str, references: dict[str, pl.Series] = ...) -> Validator: ...
    def push(
        self, df: pl.DataFrame, schema: list[tuple[str, str]] | None = None, want_rows: bool = False
    ) -> RowFailures | None: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def rows(self) -> int: ...
    def finish(self) -> tuple[list[dict[str, object]], dict[str, pl.DataFrame]]: ...

def check_pattern(rule: str, pattern: str) -> None: ...

@final
class Partial: ...

@final
class DailyKernel:
    def __new__(
        cls, tz: str = "UTC", day_start_seconds: int = 0, columns: dict[str, str] = ...
    ) -> DailyKernel: ...
    def partial(self, orders: pl.DataFrame, line_items: pl.DataFrame | None = None) -> Partial: ...
    def merge(self, a: Partial, b: Partial) -> Partial: ...
    def summary(self, state: Partial, start: str | None = None, end: str | None = None) -> pl.DataFrame: ...
    def trend(
        self, state: Partial, days: int = 30, end: str | None = None, weekly: bool = False
    ) -> pl.DataFrame: ...

@final
class BucketKernel:
    def __new__(cls, edges: list[str], labels: list[str], column: str) -> BucketKernel: ...
    def partial(self, orders: pl.DataFrame) -> Partial: ...
    def merge(self, a: Partial, b: Partial) -> Partial: ...
    def finalize(self, state: Partial) -> pl.DataFrame: ...

@final
class SegmentKernel:
    def __new__(
        cls,
        vip_orders: int,
        vip_spent: str,
        loyal_orders: int,
        loyal_spent: str,
        regular_orders: int,
        customer: str,
        amount: str,
    ) -> SegmentKernel: ...
    def partial(self, orders: pl.DataFrame) -> Partial: ...
    def merge(self, a: Partial, b: Partial) -> Partial: ...
    def finalize(self, state: Partial) -> pl.DataFrame: ...
