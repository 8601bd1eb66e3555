"""Exceptions raised by cnnstat; the CLI turns each into one line on stderr and exit code 1."""


class CnnstatError(Exception):
    """Base class of every error cnnstat raises for a user's mistake or a bad environment."""


class UnknownModelError(CnnstatError):
    """A model name that neither the zoo, torchvision nor an import path resolves."""


class ModelLoadError(CnnstatError):
    """A user model (``module:attr`` or ``file.py:attr``) that cannot be imported or built."""


class InputShapeError(CnnstatError):
    """A malformed ``--input`` or an input the network cannot take."""


class DataError(CnnstatError):
    """A missing, truncated or corrupt data set file."""


class CheckpointError(CnnstatError):
    """A checkpoint or run folder that cannot be read."""


class TraceError(CnnstatError):
    """A forward pass that fails while tracing, e.g. an input too small for a layer."""


class DuplicateNameError(CnnstatError):
    """A second registration under a name a registry already holds (a model, an op or a layer counter)."""


class OutputError(CnnstatError):
    """A file or folder cnnstat is asked to write that cannot be written."""
