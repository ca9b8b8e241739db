"""Data: MIDI files to rolls and back, input sources, built-in corpora, benchmark files, and the dataset format.

`midi` converts MIDI <-> rolls (`notes`: a file's note table and time grid; `onsets`: the sustain pedal,
re-strikes and the notes of an onset-aware roll); `sources` walks files, folders and zips; `corpora` holds the
built-in Bach chorales; `benchmark_files` reads the .mat/.pickle benchmark files; `rolls` is the
on-disk format (windows, statistics, dataset.npz + report.json); `build` turns MIDI into a dataset;
`shards` is the sharded format (whole pieces, 2 bits a cell, read a window at a time), `shard_build` builds it on
local workers or Ray (`shard_index` streams its index, `npz_columns` writes and reads an .npz a chunk at a time),
`shard_migrate` converts a dataset.npz one; `datasets` is the entry point
(build_dataset, load_dataset, list_datasets).
May import: the shared ground (config, errors, paths, parallel, processes, ray_connect).
Nothing from nn, runs, training, music, study or cli.
"""
