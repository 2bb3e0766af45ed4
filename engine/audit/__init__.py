"""Audit of a committed output: DuckDB queries, the HTML report and the terminal report."""
