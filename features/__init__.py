"""features: customer data in, point-in-time features and churn labels out.

The bottom of the dependency graph (it imports no other churnltv package). ``contract`` defines the tables
churnltv reads; ``sources`` opens any of them (a CSV/Parquet folder, a DuckDB file, PostgreSQL, in-memory frames)
as one DuckDB connection of typed views, after ``validation`` has checked the raw rows (``raw_tables`` holds the
typing rules both share); ``point_in_time`` builds the features of each customer as known just before each cutoff,
``labels`` the churn outcome after it, and ``btyd_summary`` the BG/NBD inputs. ``settings`` and ``duckdb_settings``
are the typed settings (env prefixes ``CHURNLTV_FEATURES_`` and ``CHURNLTV_DUCKDB_``); ``errors`` the errors that
reach users. The module map: docs/ARCHITECTURE.md.
"""
