"""The release gate: comparisons, their statistics and their output.

``edgeops.gate`` is both this package and the public function of issue 12
(``edgeops.gate(baseline, current) -> GateReport``): once a submodule is
imported, Python binds the package to the name ``gate`` on ``edgeops``, so the
package itself is made callable and calls :func:`edgeops.api.gate`.
"""

import sys
import types
from typing import Any


class _CallableGate(types.ModuleType):
    def __call__(self, baseline: Any, current: Any, **thresholds: Any) -> Any:
        from edgeops.api import gate

        return gate(baseline, current, **thresholds)


sys.modules[__name__].__class__ = _CallableGate
