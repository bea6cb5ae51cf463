"""Error rates of the gate's sequential test on simulated process-level rounds.

Each trial runs the procedure `ship --until-decided` runs: a baseline primary
sized by gate_ready_rounds, then a current measured in looks (3, 5, 7, 10, ...
rounds) until the test decides or --max-extra-rounds is spent. A round is
one log median drawn from N(log effect, cv); real rounds are resampled by
benchmarks/gate_power.py (not yet updated to this test).

    python benchmarks/gate_sequential_sim.py TRIALS MAX_EXTRA ALPHA POWER CVS
    python benchmarks/gate_sequential_sim.py 300 80 0.005 0.95 0.02,0.05,0.10
"""

import math, time, sys
import numpy as np
from edgeops.gate.stats import *
from edgeops.gate.stats import gate_ready_rounds

d = SequentialDesign()
THR = 1.05
MAXX = int(sys.argv[2])
d = SequentialDesign(alpha=float(sys.argv[3]), power=float(sys.argv[4]))


def baseline(rng, cv):
    logs = list(rng.normal(0, cv, 3))
    while True:
        need = gate_ready_rounds(logs, THR, d)
        if need <= 0 or len(logs) >= 3 + MAXX:
            return np.array(logs)
        add = min(need, next_look(len(logs)) - len(logs), 3 + MAXX - len(logs))
        logs += list(rng.normal(0, cv, add))


def run(rng, cv, effect):
    b = baseline(rng, cv)
    cur = list(rng.normal(math.log(effect), cv, 3))
    while True:
        r = sequential_test(b, cur, THR, d)
        if r.verdict != "inconclusive" or len(cur) >= 3 + MAXX:
            return r.verdict, len(b), len(cur)
        add = min(r.more_current_rounds, 3 + MAXX - len(cur))
        cur += list(rng.normal(math.log(effect), cv, add))


rng = np.random.default_rng(0)
N = int(sys.argv[1])
for cv in [float(c) for c in sys.argv[5].split(",")]:
    for eff in (1.0, 1.05, 1.10):
        t = time.time()
        out = [run(rng, cv, eff) for _ in range(N)]
        v = [o[0] for o in out]
        print(
            f"cv {cv} eff {eff}: fail {v.count('fail') / N:.3f} pass {v.count('pass') / N:.3f} inc {v.count('inconclusive') / N:.3f} base {np.median([o[1] for o in out])} cur {np.median([o[2] for o in out])} {time.time() - t:.1f}s",
            flush=True,
        )
