import pathlib
import sys

from hypothesis import settings

sys.path.insert(0, str(pathlib.Path(__file__).parent))
sys.path.insert(0, str(pathlib.Path(__file__).parent / "golden"))

# Hypothesis' per-example deadline is a timed assertion: on a shared two-core machine an example
# that runs in 20 ms alone took 548 ms under load and failed a green suite. Speed is the benches'
# business (bench/), so the suite checks behaviour only.
settings.register_profile("walsync", deadline=None)
settings.load_profile("walsync")
