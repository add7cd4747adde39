"""``tillflow init``: a project that runs as it is, against the demo shop.

It loads the demo shop into a DuckDB file, builds two models (a view of
paid orders, and an incremental table of revenue per day), checks each
against its rules, and refreshes the metrics. Swapping the demo source for a real one is the
first edit a user makes; ``.env.example`` shows where secrets go.
"""

from __future__ import annotations

from pathlib import Path

from tillflow._core.errors import config_error

__all__ = ["init"]

PROJECT_FILE = """\
# A tillflow project: `tillflow run` runs all of it; `tillflow run --select daily_revenue`
# runs one model with what it needs; `tillflow validate-project` checks this file.

[project]
name = "{name}"
timezone = "UTC"                 # the shop's time zone: days and metrics are cut in it

[warehouse]
url = "duckdb:warehouse.duckdb"  # or "postgresql://user@host/db?schema=shop", "delta:lake"
lock_timeout = 0                 # seconds a run waits for a running one (0: exit 75 at once)

# The built-in demo shop, served on 127.0.0.1 for the length of a run. A real store:
#   [sources.shop]
#   preset = "shopify"
#   options = {{ store = "${{SHOPIFY_STORE}}", token = "${{SHOPIFY_TOKEN}}" }}
[sources.shop]
demo = {{ orders = 500, seed = 42 }}
resources = ["orders", "customers", "products"]
rules = {{ orders = "rules/orders.yaml" }}

# Models are models/*.sql; a section here overrides what the file's config() says.
[models.paid_orders]
rules = "rules/paid_orders.yaml"

[models.daily_revenue]
rules = "rules/daily_revenue.yaml"

[metrics]
enabled = true                   # refresh the metrics_* tables after the models

# Print crontab lines with `tillflow schedule`.
[schedules.nightly]
cron = "0 2 * * *"
"""

ENV_EXAMPLE = """\
# Copy to .env (kept out of git) and fill in; tillflow.toml reads them as ${NAME}.
SHOPIFY_STORE=my-shop.myshopify.com
SHOPIFY_TOKEN=shpat_...
"""

GITIGNORE = """\
.env
*.duckdb
*.duckdb.wal
*.run.lock
*.run.json
lake/
"""

PAID_ORDERS = """\
-- Orders that were paid, one row per order, from the shop's orders table.
{{ config(materialized='view') }}

select
    id as order_id,
    cast(created_at as date) as order_date,
    customer__id as customer_id,
    cast(total_price as decimal(18, 2)) as total_price,
    financial_status
from {{ source('shop', 'orders') }}
where financial_status = 'paid'
"""

DAILY_REVENUE = """\
-- Revenue per day. Incremental: a run rebuilds only the days from the latest one stored on.
{{ config(materialized='incremental', unique_key='order_date') }}

select
    order_date,
    count(*) as orders,
    sum(total_price) as revenue
from {{ ref('paid_orders') }}
{% if is_incremental() %}
where order_date >= (select max(order_date) from {{ this }})
{% endif %}
group by order_date
"""

ORDER_RULES = """\
rules:
  - not_null: [id, created_at]
  - unique: id
  - between: total_price
    min: 0
"""

PAID_RULES = """\
rules:
  - not_null: [order_id, order_date, total_price]
  - unique: order_id
"""

DAILY_RULES = """\
rules:
  - not_null: [order_date, orders, revenue]
  - unique: order_date
  - between: revenue
    min: 0
"""

README = """\
# {name}

A [tillflow](https://pypi.org/project/tillflow/) project.

    tillflow run                          # load the sources, build the models, refresh the metrics
    tillflow run --select daily_revenue   # one model, with the models and sources it reads
    tillflow run --json                   # a machine-readable summary
    tillflow validate-project             # check tillflow.toml, the models and the rules
    tillflow lineage                      # source -> table -> model -> metric
    tillflow schedule                     # crontab lines for [schedules]

- `tillflow.toml`: sources, the warehouse, rules per table, models, metrics, schedules.
- `models/*.sql`: one SELECT each; `{{{{ ref('model') }}}}`, `{{{{ source('shop', 'orders') }}}}`,
  `{{{{ config(materialized='view' | 'table' | 'incremental', unique_key=...) }}}}`.
- `rules/*.yaml`: rules for a source's table or a model; a model that breaks an error rule stops
  the models downstream of it.
- `.env`: secrets, read as `${{NAME}}` in `tillflow.toml` (see `.env.example`).

Exit codes: 0 ok, 1 a step failed, 2 bad configuration, 75 another run holds the warehouse.
"""


def init(directory: str | Path = ".", *, name: str | None = None) -> Path:
    """Create a project in ``directory`` (created when missing).

    Parameters
    ----------
    directory
        Where the project goes; it must not hold a ``tillflow.toml`` yet.
    name
        The project's name; by default the folder's.

    Returns
    -------
    Path
        The project file written.

    Raises
    ------
    ConfigError
        If the folder already holds a project, or a file the scaffold writes.
    """
    root = Path(directory)
    project_name = name or root.resolve().name.replace("-", "_").replace(" ", "_") or "shop"
    files = {
        "tillflow.toml": PROJECT_FILE.format(name=project_name),
        ".env.example": ENV_EXAMPLE,
        ".gitignore": GITIGNORE,
        "README.md": README.format(name=project_name),
        "models/paid_orders.sql": PAID_ORDERS,
        "models/daily_revenue.sql": DAILY_REVENUE,
        "rules/orders.yaml": ORDER_RULES,
        "rules/paid_orders.yaml": PAID_RULES,
        "rules/daily_revenue.yaml": DAILY_RULES,
    }
    taken = [f for f in files if (root / f).exists()]
    if taken:
        raise config_error(f"init: {root / taken[0]} exists; choose an empty folder")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "tillflow.toml"
