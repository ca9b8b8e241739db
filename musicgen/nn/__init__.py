"""Networks only: the Conv1D + GRU next-step model and the Ensemble of several.

Modules hold nn.Module classes and nothing about files, data or training.
May import: the shared ground only (in practice `config`). Nothing from data, runs, training, music, study or cli.
"""
