"""churnltv: churn and lifetime-value prediction.

The importable code lives in four packages with one-way dependencies
(features <- models <- training, features <- models <- service); this package is
only the composition root: the `churnltv` console command and the version.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("churnltv")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
