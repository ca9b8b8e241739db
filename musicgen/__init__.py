"""musicgen: learn to generate polyphonic music from piano-rolls.

Array convention, everywhere: a roll is `(steps, notes)` of 0/1 (uint8 on disk, float32 in a
model), a batch is `(batch, steps, notes)`; column j is MIDI pitch `low + j`.
"""

__version__ = "0.1.0"
