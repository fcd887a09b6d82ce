"""Helpers of the searchrel DAGs (ignored by the DAG processor via .airflowignore)."""
