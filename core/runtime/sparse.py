"""Whether a matrix is sparse, without importing scipy.sparse where nothing is.

``import scipy.sparse`` costs about 0.2 s, most of a small verification's start-up (ACAS Xu's
networks are dense throughout). An object can only be one of scipy's sparse arrays once
scipy.sparse has been imported, so the question is answered without importing it; the
modules that build sparse matrices import scipy.sparse where they build them.
"""

from __future__ import annotations

import sys


def issparse(value: object) -> bool:
    """``scipy.sparse.issparse(value)``, False at no cost while scipy.sparse is not loaded."""
    module = sys.modules.get("scipy.sparse")
    return module is not None and bool(module.issparse(value))
