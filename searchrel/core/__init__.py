"""The ground floor every other package stands on: configuration, errors and exit codes,
the SparkSession factory, table I/O, date helpers and the catalog of tables.

It imports nothing from the rest of the project (the import-linter contract in
pyproject.toml holds it to that). Its modules are imported one by one
(`from searchrel.core.tables import Tables`); this package imports none of them,
so `searchrel --help` and the Airflow helpers stay free of Spark.
"""
