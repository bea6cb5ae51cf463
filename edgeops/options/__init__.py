"""Every setting a user sets, declared once: its default, description and range.

- ``declare.py``: the checked types (a range and its one-line message) and ``Options``.
- ``measure.py``: ``MeasureOptions``, how each variant is measured.
- ``selection.py``: ``SelectionOptions``, how a variant is chosen per profile.
- ``work.py``: ``WorkOptions``, worker processes, their bounds, the cache.
- ``ship.py``: ``ShipOptions``, all of the above and the rest of a whole run.
- ``gate.py``: ``GateOptions``, the release gate's thresholds.
- ``flags.py``: argparse flags made from a model, and the model from parsed flags.

The CLI's flags and the Python API's keywords are made from these models; the
records a run keeps (``MeasureSettings``, ``SelectionPolicy``, ``GateSettings``)
reuse their fields. Nothing is imported here, so ``models.py`` can reuse a field
without importing the models that need it.
"""
