"""Database sources: PostgreSQL and MySQL/MariaDB tables read as Arrow."""

from tillflow.sources._databases._reader import SqlTable, mysql, postgres, sql_database

__all__ = ["SqlTable", "mysql", "postgres", "sql_database"]
