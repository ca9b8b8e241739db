"""Networks only: the Conv1D + GRU next-step model (`convgru`) with its independent or NADE head (`nade`),
the note distributions that a step's notes are decided from one by one (`notes`), the Ensemble of several, and
what an onset model reads and predicts (`onsets`: the sounding and onset planes, the s/a units, their forcing).

Modules hold nn.Module classes and the decoding of their outputs, nothing about files, data or training.
May import: the shared ground only (in practice `config`). Nothing from data, runs, training, music, study or cli.
"""
