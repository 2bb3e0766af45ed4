"""Mix planning without Spark: token budgets per source and group, and the manifest."""
