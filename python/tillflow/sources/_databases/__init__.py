"""Database sources: PostgreSQL and MySQL/MariaDB tables read as Arrow."""

from tillflow.sources._databases._database import mysql, postgres, sql_database
from tillflow.sources._databases._table import SqlTable

__all__ = ["SqlTable", "mysql", "postgres", "sql_database"]
