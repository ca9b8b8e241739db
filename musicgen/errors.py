"""Errors a user can cause. User-facing code catches `MusicgenError`; bugs keep their tracebacks."""


class MusicgenError(Exception):
    """Base class: the message is one line that says what is wrong, the value, and the fix."""


class ConfigError(MusicgenError):
    """A bad option or configuration value."""


class MidiError(MusicgenError):
    """A MIDI file that cannot be read or holds nothing usable."""


class DataError(MusicgenError):
    """A dataset that is missing, malformed or does not fit."""


class CheckpointError(MusicgenError):
    """A checkpoint that is missing, corrupt or not one of ours."""


class StoreError(MusicgenError):
    """The run store: unknown ids, an unwritable home, a run in the wrong state."""


class TrainingError(MusicgenError):
    """Training that cannot go on (for instance a NaN loss)."""


class RenderError(MusicgenError):
    """Audio or MIDI output that cannot be produced."""
