"""Storage: one fsspec folder object for every read and write (atomic, retried) and the names of
what a run folder holds."""
