"""Errors the model code raises on purpose."""


class NotEnoughData(ValueError):
    """The shop's data is too short or too thin for this model to train or be evaluated.

    The message is one line a person reads ("demand forecast: needs 28 days of history before
    the cut-off, has 14"): the run skips the model (and what depends on it), says why in that
    line, writes every other table, and ends as "partial" instead of failing with a traceback.
    Subclasses ValueError so callers that caught ValueError still do.
    """
