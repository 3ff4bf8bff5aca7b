"""REPORT.md of a reproduction: setting, the source of every constant, the paper's claim in one
sentence, our numbers with 95 % intervals over seeds, and the verdict of each claim."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import platform
from pathlib import Path

import jax


@dataclasses.dataclass
class Report:
    """What a target found. ``constants``: (name, value, source) rows; ``results``: Markdown
    (tables of our numbers); ``verdicts``: (claim tested, our number, verdict) rows;
    ``figures``: PNG file names in the target's dir."""

    title: str
    claim: str  # the paper's claim in one sentence, with its source
    setting: str
    constants: list[tuple[str, str, str]]
    results: str
    verdicts: list[tuple[str, str, str]]
    figures: list[str]
    command: str
    wall_s: float

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", f"**Claim.** {self.claim}", "", f"**Setting.** {self.setting}", "",
                 "| constant | value | source |", "| --- | --- | --- |"]
        lines += [f"| {k} | {v} | {s} |" for k, v, s in self.constants]
        lines += ["", "## Our numbers (mean and 95 % t-interval over seeds)", "", self.results, "",
                  "## Verdict", "", "| claim | ours | verdict |", "| --- | --- | --- |"]
        lines += [f"| {c} | {o} | **{v}** |" for c, o, v in self.verdicts]
        lines += ["", "A claim *holds* only if the 95 % interval separates in the claimed direction, "
                  "*does not hold* if it separates the other way, and otherwise we *cannot tell*.", ""]
        lines += [f"![{f}]({f})" for f in self.figures]
        lines += ["", f"Reproduce: `{self.command}`  ", f"Machine: {machine()}; {datetime.date.today()}; "
                  f"wall time {self.wall_s / 60:.1f} min (compiles included).", ""]
        return "\n".join(lines)


def machine() -> str:
    """One line: backend device kind and count, CPU cores, jax version."""
    import os

    dev = jax.devices()
    return (f"{len(dev)} x {dev[0].device_kind} ({dev[0].platform}), {os.cpu_count()} CPU cores "
            f"(load average {os.getloadavg()[0]:.1f} at the end), {platform.system()}, jax {jax.__version__}")


def write_csv(path: Path, rows: list[dict]) -> Path:
    """rows (dicts with the same keys) -> CSV at ``path``."""
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def md_table(rows: list[dict]) -> str:
    """rows -> a Markdown table (floats to 3 decimals)."""
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)
    head = list(rows[0])
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    out += ["| " + " | ".join(fmt(r[k]) for k in head) + " |" for r in rows]
    return "\n".join(out)
