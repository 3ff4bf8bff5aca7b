"""pursued_target.md: the belief mass on the target each scripted co-player pursues, per saved
adaptation.json, with the within-episode rise pooled over K, in episode 1 only and in episode K
only (issue14_verdict.thirds on the episode's slice of the per-step sums).

    python benchmarks/results/issue14_adaptation_cpu/session21/pursued_target.py \
        /tmp/w/*/x/adaptation.json > pursued_target.md

(each path <run name>/x/adaptation.json: the run name is two folders up)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # benchmarks/
import issue14_verdict as v  # noqa: E402

print("Belief mass on the target a scripted co-player pursues (`pursuit_accuracy`), HOP row, per "
      "saved 24-seed Stag-Hunt run; mean [95 % interval] over seeds. Within: above-chance mass in the "
      "last third minus the first third of the steps every seed scores, all K episodes pooled, then "
      "episode 1 only (the uniform start: intra-OM alone) and episode K only.\n")
print("| run | kind | slope across K | minus chance, over K | within, K pooled | within, episode 1 | within, episode K |")
print("|---|---|---|---|---|---|---|")
for f in sorted(sys.argv[1:]):
    kinds, res, *_ = v.load(f)
    ad = {m: np.asarray(x) for m, x in res["HOP"]["adapt"].items()}
    for k in ("stag", "hare", "random", "fix"):
        c = kinds.index(k)
        st, acc, ch, _, _ = v.thirds(ad, c, "pursuit")
        cells = []
        for sl in (slice(None), slice(0, 1), slice(-1, None)):
            _, _, _, above, last = v.thirds({m: x[:, :, sl] if m.endswith("_t") else x for m, x in ad.items()},
                                            c, "pursuit")
            cells.append(v.ci(above[last] - above[0]) if last else "fewer than 3 steps")
        print(f"| `{Path(f).parent.parent.name}` | {k} | {v.ci(v.slope(ad['pursuit_accuracy'][:, c]))} | "
              f"{v.ci((acc.sum(1) - ch.sum(1)) / st.sum(1))} | " + " | ".join(cells) + " |")
