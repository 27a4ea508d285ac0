"""Result objects: frozen bundles of polars DataFrames with JSON, a repr and HTML display."""
