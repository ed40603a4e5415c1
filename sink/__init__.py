"""Result storage: the embedded DuckDB store, and the HTTP sink service built on it."""
