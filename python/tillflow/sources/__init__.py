"""Sources: where a shop's data comes from.

- REST APIs, from a declarative spec read by the native HTTP engine
  ([rest][tillflow.sources.rest]), and the vendors shipped as presets
  ([shopify][tillflow.sources.shopify], [stripe][tillflow.sources.stripe],
  [hubspot][tillflow.sources.hubspot], ...);
- file exports: CSV, JSON/NDJSON and Excel folders ([files][tillflow.sources.files]);
- databases: PostgreSQL and MySQL/MariaDB tables ([sql_database][tillflow.sources.sql_database]);
- web and server logs, tailed across rotation ([logs][tillflow.sources.logs]);
- Singer taps, run as processes ([singer][tillflow.sources.singer]);
- Airbyte declarative manifests, run natively ([airbyte_manifest][tillflow.sources.airbyte_manifest]).

Every source is a [Source][tillflow.sources.Source] of [Resource][tillflow.sources.Resource]s
whose streams yield batches ([BatchStream][tillflow.sources.BatchStream]); a pipeline loads
them into a warehouse.
"""

from tillflow.sources._airbyte import ManifestResource, airbyte_manifest, is_airbyte_manifest
from tillflow.sources._databases import SqlTable, mysql, postgres, sql_database
from tillflow.sources._files import DEFAULT_NULL_VALUES, FileResource, files
from tillflow.sources._logs import LogResource, logs
from tillflow.sources._presets import Preset, preset
from tillflow.sources._presets import names as presets
from tillflow.sources._rest import SHOPIFY_API_VERSION, check_spec, rest, shopify
from tillflow.sources._saas_accounting import ga4, quickbooks, xero
from tillflow.sources._saas_commerce import paypal, shopify_graphql, square, stripe, woocommerce
from tillflow.sources._saas_crm import hubspot, mailchimp, zendesk
from tillflow.sources._singer import SingerTap, singer, singer_output
from tillflow.sources._source import (
    SCHEMA_CONTRACTS,
    WRITE_MODES,
    BatchStream,
    Resource,
    Source,
    native_json,
)

__all__ = [
    "DEFAULT_NULL_VALUES",
    "SCHEMA_CONTRACTS",
    "SHOPIFY_API_VERSION",
    "WRITE_MODES",
    "BatchStream",
    "FileResource",
    "LogResource",
    "ManifestResource",
    "Preset",
    "Resource",
    "SingerTap",
    "Source",
    "SqlTable",
    "airbyte_manifest",
    "check_spec",
    "files",
    "ga4",
    "hubspot",
    "is_airbyte_manifest",
    "logs",
    "mailchimp",
    "mysql",
    "native_json",
    "paypal",
    "postgres",
    "preset",
    "presets",
    "quickbooks",
    "rest",
    "shopify",
    "shopify_graphql",
    "singer",
    "singer_output",
    "sql_database",
    "square",
    "stripe",
    "woocommerce",
    "xero",
    "zendesk",
]
