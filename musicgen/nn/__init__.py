"""Networks only: the Conv1D + GRU next-step model (`convgru`) with its independent or NADE head (`nade`),
the note distributions that a step's notes are decided from one by one (`notes`), and the Ensemble of several.

Modules hold nn.Module classes and the decoding of their outputs, nothing about files, data or training.
May import: the shared ground only (in practice `config`). Nothing from data, runs, training, music, study or cli.
"""
