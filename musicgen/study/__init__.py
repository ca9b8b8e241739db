"""The study: sweeps of the optimizer x loss grid, their statistics and document, ensembles, the literature.

Planning and running: `plan` (the grid and its bookkeeping in the store), `sweep` (run a plan) on `sweep_local`
or `sweep_ray`, `tuning` (the two-stage study). Judging: `stats` (the run table), `groups` (a run's identity and
group), `curves` (mean ± std curves per group), `baselines` (the untrained baselines), `ranking` (means over
seeds, Welch-tied ranks), `measures` (the study table, per-combination statistics, pairwise tests), `findings`
(a sentence per question), `verdict` (per criterion what to use, with its test), `summaries` (the results as
readable tables), `generation` (the study's generation figures), `document` (the study's tables, rendered as
md by `document_md`, or as csv, json, html). Also `ensembles` (build and select ensembles), `recipes` (config
files), `literature` (published benchmark figures).
May import: everything below it (shared ground, data, nn, runs, training, music). Not cli.
"""
