"""``layoutscope.compare``: DESIGN.md's public name for :mod:`layoutscope.measure.metrics`.

``compare(y, reference) -> Metrics`` (NMSE, SNR, cosine, max/mean abs error,
worst elements, verdict) lives in :mod:`layoutscope.measure.metrics` since the
packages were grouped by stage. The contract's name stays importable (``import
layoutscope.compare``, ``from layoutscope.compare import compare``) and is the
very same module object, not a copy that could drift.
"""

import sys

from layoutscope.measure import metrics

# The import system returns whatever sys.modules holds under this name once the module has run.
sys.modules[__name__] = metrics
