"""The CDNOW sample that ships with lifetimes: where it is and the calibration cutoff of Fader, Hardie & Lee (2005)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

LIFETIMES_DATA = Path(__import__("lifetimes").__file__).parent / "datasets"
AS_OF = pd.Timestamp("1997-10-01")  # calibration through 1997-09-30 inclusive
