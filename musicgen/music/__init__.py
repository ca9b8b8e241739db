"""Music: generation from a model, MIDI/WAV output, music metrics and figures.

`generate` samples rolls step by step (`strategies`: how a step's notes are chosen, and the options'
limits; `primers`: the opening steps from a MIDI file or a dataset); `audio` renders WAV with FluidSynth; `quality` measures
rolls against a reference; `plots` draws figures; `piece` is the one path from a checkpoint to
files and metrics that the CLI, the Generate page and the study document share; `listening` makes the
blind test's pairs (one primer, random order, one synthesizer), stores votes and gives their Wilson interval.
May import: the shared ground, data, nn, runs and training. Nothing from study or cli.
"""
