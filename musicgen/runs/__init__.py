"""Runs: the SQLite run store, the reporters through which a trainer writes to it, and training processes.

`db` is the schema and the connection, `store` the queries (SQL only), `votes` the blind listening
test's votes; `reporters` turn training events into store rows (or callbacks, for Ray); `jobs` starts,
watches and stops `python -m musicgen` processes; `divergence` is the one rule of when a run has diverged;
`ray_cluster` connects to (or starts) the Ray cluster of the ray backends; `labels` names a run's precision and backend.
May import: the shared ground and data. Nothing from nn, training, music, study or cli.
"""
