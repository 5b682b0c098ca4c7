"""Float32 values that stress text formatting: signed zeros, subnormals, the extremes, powers of two, inf, NaN."""

import numpy as np

SPECIAL = np.array([
    0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 1.17549435e-38, 3.4028235e38, -3.4028235e38, 3.4028233e38,
    1.0, 2.0, 0.5, 0.25, 1024.0, 2.0 ** -20, 2.0 ** 100, 0.1, 0.3, 1e-4, 9.999999e-5, 1.0000001e-4, 1e15,
    9.9999998e14, 33554436.0, 16777217.0, 123456789.0, 1e10, 9.999999, 10.0, 99999.99, np.inf, -np.inf, np.nan,
], np.float32)
