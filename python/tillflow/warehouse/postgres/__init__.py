"""The PostgreSQL warehouse: loads through the ADBC driver, reads through Arrow."""

from tillflow.warehouse.postgres._warehouse import PostgresWarehouse, postgres_name

__all__ = ["PostgresWarehouse", "postgres_name"]
