"""Reading ``tillflow.toml``: a project's sources, warehouse, rules, models,
metrics, alerts and schedules, checked whole before anything runs.

Every error names the file, the line and the dotted key (``tillflow.toml:12:
sources.shop.presett: unknown key; did you mean 'preset'?``). ``${VAR}`` in
a value reads the environment, then the project's ``.env``; a variable set
in neither is an error naming it, and every value read this way is
registered as a secret so logs and messages mask it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tillflow._core.documents import Document, DocumentError, Key, open_document
from tillflow._core.errors import config_error
from tillflow._core.secrets import register_secret
from tillflow.exceptions import ConfigError

__all__ = [
    "FILE_NAME",
    "BackupConfig",
    "MetricsConfig",
    "ModelConfig",
    "ProjectConfig",
    "PublishConfig",
    "ScheduleConfig",
    "SourceConfig",
    "location",
    "read",
]

FILE_NAME = "tillflow.toml"
SOURCE_KINDS = ("demo", "preset", "spec", "files", "database", "logs", "airbyte", "singer")
MATERIALIZATIONS = ("view", "table", "incremental")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

_TOP = {"project", "warehouse", "sources", "models", "metrics", "alerts", "schedules", "publish", "backup"}
_PROJECT = {"name", "timezone"}
_WAREHOUSE = {"url", "lock_timeout"}
_SOURCE_COMMON = {"resources", "write_mode", "schema_contract", "table_prefix", "rules", "options"}
_MODEL = {"materialized", "unique_key", "rules", "enabled"}
_METRICS = {"enabled", "only", "timezone", "day_start"}
_SCHEDULE = {"cron", "select", "full_refresh"}
_PUBLISH = {"to", "format"}
_BACKUP = {"to", "keep"}


@dataclasses.dataclass
class SourceConfig:
    """One ``[sources.NAME]`` table: what kind of source it is and its options."""

    name: str
    kind: str  # one of SOURCE_KINDS
    target: Any  # the kind's value: True/options for demo, the preset name, a path, a URL
    options: dict[str, Any]
    resources: list[str] | None
    write_mode: str | None
    schema_contract: str | None
    table_prefix: str
    rules: dict[str, Path]  # table -> rules file


@dataclasses.dataclass
class ModelConfig:
    """What ``[models.NAME]`` says of a model (its SQL file may say more)."""

    materialized: str | None = None
    unique_key: list[str] | None = None
    rules: Path | None = None
    enabled: bool = True


@dataclasses.dataclass
class MetricsConfig:
    """``[metrics]``: whether a run refreshes the shop's metrics, and which."""

    enabled: bool = True
    only: list[str] | None = None
    timezone: str | None = None
    day_start: str = "00:00"
    #: Whether the file has a [metrics] section: without one, a warehouse with no orders skips them.
    explicit: bool = False


@dataclasses.dataclass
class ScheduleConfig:
    """``[schedules.NAME]``: when to run what (``tillflow schedule`` prints crontab lines)."""

    name: str
    cron: str
    select: list[str]
    full_refresh: bool = False


@dataclasses.dataclass
class PublishConfig:
    """``[publish]``: after each run, copy the DuckDB warehouse to a snapshot for BI tools."""

    to: Path
    format: str = "duckdb"


@dataclasses.dataclass
class BackupConfig:
    """``[backup]``: after each run, back the warehouse up into a folder, keeping the newest ``keep``."""

    to: Path
    keep: int | None = None


@dataclasses.dataclass
class ProjectConfig:
    """A project file read and checked."""

    root: Path
    path: Path
    name: str
    timezone: str | None
    warehouse: str
    lock_timeout: float
    sources: dict[str, SourceConfig]
    models: dict[str, ModelConfig]
    metrics: MetricsConfig
    alerts: Path | None
    schedules: dict[str, ScheduleConfig]
    document: Document = dataclasses.field(repr=False)
    publish: PublishConfig | None = None
    backup: BackupConfig | None = None

    def where(self, *keys: Key) -> str:
        """``file:line`` of a key path, for messages about it."""
        return self.document.where(list(keys))


def read(path: str | os.PathLike[str]) -> ProjectConfig:
    """The project file at ``path`` (a ``tillflow.toml`` or the folder holding one).

    Raises
    ------
    ConfigError
        If the file is missing or malformed, a key is unknown, a value has the
        wrong type, a variable is unset or a referenced file is missing; the
        message names the file, line and key.
    """
    given = Path(path)
    file = given / FILE_NAME if given.is_dir() else given
    try:
        document = open_document(file)
    except DocumentError as exc:
        hint = " (tillflow init creates one)" if not file.exists() else ""
        raise config_error(f"{file}: {exc}{hint}") from None
    if file.suffix.lower() != ".toml":
        raise config_error(f"{file}: a project file is TOML ({FILE_NAME})")
    return _Reader(document, file.resolve().parent).project()


class _Reader:
    def __init__(self, document: Document, root: Path) -> None:
        self.document = document
        self.root = root
        self.env = _environment(root)

    # -- errors

    def fail(self, keys: Sequence[Key], message: str) -> ConfigError:
        dotted = ".".join(str(k) for k in keys)
        where = self.document.where(list(keys))
        return config_error(f"{where}: {dotted}: {message}" if dotted else f"{where}: {message}")

    def table(self, value: Any, keys: Sequence[Key], allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(keys, f"expected a table, got {_shown(value)}")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(allowed))})"
                raise self.fail([*keys, key], f"unknown key{hint}")
        return dict(value)

    def text(self, value: Any, keys: Sequence[Key]) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(keys, f"expected non-empty text, got {_shown(value)}")
        return self.substitute(value, keys)

    def names(self, value: Any, keys: Sequence[Key]) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
            raise self.fail(keys, f"expected a name or a list of names, got {_shown(value)}")
        return list(items)

    def flag(self, value: Any, keys: Sequence[Key]) -> bool:
        if not isinstance(value, bool):
            raise self.fail(keys, f"expected true or false, got {_shown(value)}")
        return value

    def file(self, value: Any, keys: Sequence[Key]) -> Path:
        path = self.root / self.text(value, keys)
        if not path.is_file():
            raise self.fail(keys, f"no such file {str(path.relative_to(self.root))!r} in the project")
        return path

    def substitute(self, value: Any, keys: Sequence[Key]) -> Any:
        """``value`` with ``${VAR}`` (or ``${VAR:-default}``) read from the
        environment or ``.env``; nested tables and lists too."""
        if isinstance(value, Mapping):
            return {k: self.substitute(v, [*keys, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, [*keys, i]) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = self.env.get(name)
            if found is None or found == "":
                if default is not None:
                    return default
                raise self.fail(keys, f"${{{name}}} is not set; set it in the environment or in .env")
            register_secret(found)
            return found

        return _VARIABLE.sub(one, value)

    # -- sections

    def project(self) -> ProjectConfig:
        data = self.table(self.document.data or {}, [], _TOP)
        head = self.table(data.get("project", {}), ["project"], _PROJECT)
        if "name" not in head:
            raise self.fail(["project"], 'name the project: [project] name = "my_shop"')
        name = self.text(head["name"], ["project", "name"])
        wh = self.table(data.get("warehouse", {}), ["warehouse"], _WAREHOUSE)
        lock_timeout = wh.get("lock_timeout", 0)
        if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)) or lock_timeout < 0:
            raise self.fail(
                ["warehouse", "lock_timeout"], f"expected seconds >= 0, got {_shown(lock_timeout)}"
            )
        sources = self.table(data.get("sources", {}), ["sources"], set(data.get("sources", {}) or {}))
        models = self.table(data.get("models", {}), ["models"], set(data.get("models", {}) or {}))
        schedules = self.table(data.get("schedules", {}), ["schedules"], set(data.get("schedules", {}) or {}))
        config = ProjectConfig(
            root=self.root,
            path=self.document.path,
            name=name,
            timezone=self.text(head["timezone"], ["project", "timezone"]) if "timezone" in head else None,
            warehouse=self.text(wh.get("url", "duckdb:warehouse.duckdb"), ["warehouse", "url"]),
            lock_timeout=float(lock_timeout),
            sources={n: self.source(n, v) for n, v in sources.items()},
            models={n: self.model(n, v) for n, v in models.items()},
            metrics=self.metrics(data.get("metrics", {})),
            alerts=self.file(data["alerts"], ["alerts"]) if "alerts" in data else None,
            schedules={n: self.schedule(n, v) for n, v in schedules.items()},
            document=self.document,
            publish=self.publish(data["publish"]) if "publish" in data else None,
            backup=self.backup(data["backup"]) if "backup" in data else None,
        )
        return config

    def publish(self, value: Any) -> PublishConfig:
        data = self.table(value, ["publish"], _PUBLISH)
        if "to" not in data:
            raise self.fail(["publish"], 'say where: to = "bi/shop.duckdb" (a folder for "parquet")')
        out = PublishConfig(self.root / self.text(data["to"], ["publish", "to"]))
        if "format" in data:
            out.format = self.text(data["format"], ["publish", "format"])
            if out.format not in ("duckdb", "parquet"):
                raise self.fail(["publish", "format"], f"expected 'duckdb' or 'parquet', got {out.format!r}")
        return out

    def backup(self, value: Any) -> BackupConfig:
        data = self.table(value, ["backup"], _BACKUP)
        if "to" not in data:
            raise self.fail(["backup"], 'say where: to = "backups" (a folder)')
        out = BackupConfig(self.root / self.text(data["to"], ["backup", "to"]))
        if "keep" in data:
            keep = data["keep"]
            if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
                raise self.fail(["backup", "keep"], f"expected a whole number >= 1, got {_shown(keep)}")
            out.keep = keep
        return out

    def source(self, name: str, value: Any) -> SourceConfig:
        keys: list[Key] = ["sources", name]
        self.identifier(name, keys)
        data = self.table(value, keys, _SOURCE_COMMON | set(SOURCE_KINDS))
        kinds = [k for k in SOURCE_KINDS if k in data]
        if len(kinds) != 1:
            found = f"it has {' and '.join(kinds)}" if kinds else "it has none"
            raise self.fail(keys, f"give exactly one of {', '.join(SOURCE_KINDS)} ({found})")
        kind = kinds[0]
        target: Any = data[kind]
        if kind == "demo":
            if target is not True and not isinstance(target, Mapping):
                raise self.fail([*keys, kind], f"expected true or a table of options, got {_shown(target)}")
            if isinstance(target, Mapping):
                target = self.table(target, [*keys, kind], {"orders", "seed"})
        elif kind in ("spec", "airbyte"):
            target = self.file(target, [*keys, kind])
        else:
            target = self.text(target, [*keys, kind])
        options = self.substitute(data.get("options", {}), [*keys, "options"])
        if not isinstance(options, Mapping):
            raise self.fail([*keys, "options"], f"expected a table, got {_shown(options)}")
        rules = self.table(data.get("rules", {}), [*keys, "rules"], set(data.get("rules", {}) or {}))
        prefix = data.get("table_prefix", "")
        if not isinstance(prefix, str):
            raise self.fail([*keys, "table_prefix"], f"expected text, got {_shown(prefix)}")
        return SourceConfig(
            name=name,
            kind=kind,
            target=target,
            options=dict(options),
            resources=self.names(data["resources"], [*keys, "resources"]) if "resources" in data else None,
            write_mode=self.text(data["write_mode"], [*keys, "write_mode"]) if "write_mode" in data else None,
            schema_contract=(
                self.text(data["schema_contract"], [*keys, "schema_contract"])
                if "schema_contract" in data
                else None
            ),
            table_prefix=prefix,
            rules={table: self.file(path, [*keys, "rules", table]) for table, path in rules.items()},
        )

    def model(self, name: str, value: Any) -> ModelConfig:
        keys: list[Key] = ["models", name]
        self.identifier(name, keys)
        data = self.table(value, keys, _MODEL)
        out = ModelConfig()
        if "materialized" in data:
            out.materialized = self.choice(data["materialized"], [*keys, "materialized"], MATERIALIZATIONS)
        if "unique_key" in data:
            out.unique_key = self.names(data["unique_key"], [*keys, "unique_key"])
        if "rules" in data:
            out.rules = self.file(data["rules"], [*keys, "rules"])
        if "enabled" in data:
            out.enabled = self.flag(data["enabled"], [*keys, "enabled"])
        return out

    def metrics(self, value: Any) -> MetricsConfig:
        data = self.table(value, ["metrics"], _METRICS)
        out = MetricsConfig(explicit=bool(value))
        if "enabled" in data:
            out.enabled = self.flag(data["enabled"], ["metrics", "enabled"])
        if "only" in data:
            from tillflow.metrics import METRICS

            out.only = self.names(data["only"], ["metrics", "only"])
            for i, metric in enumerate(out.only):
                if metric not in METRICS:
                    raise self.fail(
                        ["metrics", "only", i], f"unknown metric {metric!r}; one of {', '.join(METRICS)}"
                    )
        if "timezone" in data:
            out.timezone = self.text(data["timezone"], ["metrics", "timezone"])
        if "day_start" in data:
            out.day_start = self.text(data["day_start"], ["metrics", "day_start"])
        return out

    def schedule(self, name: str, value: Any) -> ScheduleConfig:
        keys: list[Key] = ["schedules", name]
        data = self.table(value, keys, _SCHEDULE)
        if "cron" not in data:
            raise self.fail(keys, 'give its cron expression: cron = "0 2 * * *"')
        cron = self.text(data["cron"], [*keys, "cron"])
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise self.fail([*keys, "cron"], f"{cron!r} is not a cron expression such as '0 2 * * *'")
        return ScheduleConfig(
            name=name,
            cron=cron,
            select=self.names(data["select"], [*keys, "select"]) if "select" in data else [],
            full_refresh=self.flag(data["full_refresh"], [*keys, "full_refresh"])
            if "full_refresh" in data
            else False,
        )

    def choice(self, value: Any, keys: Sequence[Key], allowed: Sequence[str]) -> str:
        if value not in allowed:
            raise self.fail(keys, f"must be one of {', '.join(allowed)}, got {_shown(value)}")
        return str(value)

    def identifier(self, name: str, keys: Sequence[Key]) -> None:
        if not _NAME.fullmatch(name):
            raise self.fail(keys, "a name is letters, digits and underscores, not starting with a digit")


def location(project: ProjectConfig) -> str:
    """The warehouse location with relative file paths taken from the project's folder."""
    url = project.warehouse
    for prefix in ("duckdb:", "delta:", ""):
        if url.startswith(prefix) and not url.startswith(("postgresql:", "postgres:")):
            rest = url[len(prefix) :]
            if "://" in rest or rest == ":memory:" or Path(rest).is_absolute():
                return url
            return prefix + str(project.root / rest)
    return url


def _environment(root: Path) -> dict[str, str]:
    """The variables ``${VAR}`` reads: ``.env`` in the project, overridden by the environment."""
    from dotenv import dotenv_values

    env = {k: v for k, v in dotenv_values(root / ".env").items() if v is not None}
    env.update(os.environ)
    return env


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
