"""The PostgreSQL warehouse: loads through the ADBC driver, reads through Arrow."""

from tillflow.warehouse._postgres._warehouse import PostgresWarehouse
from tillflow.warehouse._postgres._writes import postgres_name

__all__ = ["PostgresWarehouse", "postgres_name"]
