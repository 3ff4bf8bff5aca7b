"""``hopjax reproduce NAME``: each paper's claim reproduced by one command.

Targets: ``hop-plus`` (the HOP+ PPO self-play figure), ``omg`` (PPO vs PPO+OMG), ``moa``
(PPO vs PPO+MOA with and without the social-influence reward), ``hop-adaptation`` (HOP's few-shot
adaptation). Each writes ``<out>/reproduce/<NAME>/``: ``REPORT.md`` (setting, the source of every
constant, the paper's claim, our numbers with 95 % t-intervals over seeds, holds / does not
hold / cannot tell), CSVs and PNG figures. ``scale``: ``small`` (minutes on a 2-core CPU) or
``paper`` (sized for one GPU). An existing dir is refused unless ``overwrite`` (moved aside to
``<dir>.old-<time>``, never deleted) or ``resume``: a reproduction stopped part-way (Ctrl-C,
SIGTERM) continues in its dir, its finished sweeps reused and a stopped one resumed from its
last checkpoint (``hop-adaptation`` reuses or resumes its population's members and runs its
evaluation again).
"""

from __future__ import annotations

from pathlib import Path

from hopjax.config import ConfigError

TARGETS = ("hop-plus", "omg", "moa", "hop-adaptation")
SCALES = ("small", "paper")


def target_dir(name: str, out: str | Path = "runs") -> Path:
    return Path(out) / "reproduce" / name


def check(name: str, scale: str, seeds: int | None, out: str | Path = "runs", overwrite: bool = False,
          resume: bool = False) -> Path:
    """Arguments checked before JAX starts -> the target's dir. ConfigError (one line) otherwise."""
    from hopjax.runtime import rundir

    if name not in TARGETS:
        raise ConfigError(f"unknown reproduction {name!r}: one of {', '.join(TARGETS)}")
    if scale not in SCALES:
        raise ConfigError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if seeds is not None and not 2 <= seeds <= 4096:
        raise ConfigError(f"--seeds must lie in [2, 4096] (a 95 % interval needs 2), got {seeds}")
    rundir.check_out(out)
    d = target_dir(name, out)
    # a live lock, and --resume with --overwrite, refused as for any run; a reproduction already
    # there is refused below, naming reproduce's own options
    rundir.check(d, None if overwrite and not resume else d, overwrite)
    if resume and (d / "REPORT.md").exists():
        raise ConfigError(f"{d} holds a finished reproduction (REPORT.md): nothing to resume; --overwrite "
                          "moves it aside and runs it again")
    if resume and not rundir.contents(d):
        raise ConfigError(f"--resume: {d} holds no reproduction to continue")
    if not (resume or overwrite) and rundir.contents(d):  # reproduce's own ways on, not train's
        raise rundir.RunDirError(f"{d} already holds a reproduction: continue a stopped one with --resume, "
                                 f"or pass --overwrite to move it aside to {d.name}.old-<time>")
    return d


def reproduce(name: str, scale: str = "small", seeds: int | None = None, out: str | Path = "runs",
              overwrite: bool = False, progress: bool = True, overrides: tuple[str, ...] = (),
              command: str | None = None, resume: bool = False):
    """Run target ``name`` and write its dir (see the module doc). ``overrides``: extra ``--set``
    items for every config it trains (e.g. a tiny ``total_steps`` in tests). ``resume``: continue
    a stopped reproduction. -> its Report. KeyboardInterrupt (Ctrl-C, SIGTERM) after saying how
    to continue."""
    from hopjax.runtime import rundir
    from hopjax.runtime.reproduce import compare, hop_adaptation, hop_plus

    d = check(name, scale, seeds, out, overwrite, resume)
    runners = {"hop-plus": hop_plus.run, "hop-adaptation": hop_adaptation.run,
               "omg": lambda *a, **k: compare.run(compare.OMG, *a, **k),
               "moa": lambda *a, **k: compare.run(compare.MOA, *a, **k)}
    command = command or f"hopjax reproduce {name} --scale {scale}" + (f" --seeds {seeds}" if seeds else "")
    with rundir.open_run(d, d if resume else None, overwrite):
        try:
            report = runners[name](scale, seeds, d, command, progress=progress, overrides=tuple(overrides),
                                   resume=resume)
        except KeyboardInterrupt:
            again = " ".join(a for a in command.split() if a not in ("--overwrite", "--resume"))
            if rundir.contents(d):
                print(f"the reproduction in {d} is incomplete: continue it with {again} --resume")
            else:  # stopped before its first sweep wrote anything: the empty dir goes with the lock
                print(f"the reproduction stopped before it wrote anything: run {again} again")
            raise
        (d / "REPORT.md").write_text(report.markdown())
    print(f"\n{report.title}")
    for claim, ours, verdict in report.verdicts:
        print(f"  {claim}: {ours} -> {verdict}")
    print(f"report: {d / 'REPORT.md'}")
    return report


def collect(out: str | Path = "runs", dest: str | Path = ".") -> Path:
    """``dest/REPRODUCTIONS.md`` from the latest ``<out>/reproduce/<NAME>/REPORT.md`` of each
    target (claim, verdicts, machine and date; figures copied to ``dest/reproductions/``);
    targets without a report are listed as not run. -> its path."""
    import shutil

    dest = Path(dest)
    lines = ["# Reproductions", "",
             "The latest `hopjax reproduce NAME` of each target (written by "
             "`hopjax.runtime.reproduce.collect()` from `runs/reproduce/*/REPORT.md`; the full reports, "
             "CSVs and per-seed curves stay in the run dirs). A claim *holds* only if the 95 % interval "
             "over seeds separates in the claimed direction, *does not hold* if it separates the other "
             "way, else we *cannot tell*.", ""]
    for name in TARGETS:
        report = target_dir(name, out) / "REPORT.md"
        if not report.is_file():
            lines += [f"## `{name}`", "", f"Not run yet: `hopjax reproduce {name}`.", ""]
            continue
        text = report.read_text().splitlines()
        title = text[0].lstrip("# ")
        keep = [l for l in text if l.startswith(("**Claim.**", "**Setting.**", "Reproduce:", "Machine:"))]
        verdict = text[text.index("## Verdict") + 2:]
        verdict = verdict[:next(i for i, l in enumerate(verdict) if not l.startswith("|"))]
        numbers = text[text.index("## Our numbers (mean and 95 % t-interval over seeds)") + 2:text.index("## Verdict")]
        lines += [f"## `{name}`: {title}", "", *sum(([l, ""] for l in keep[:2]), []), *numbers, *verdict, ""]
        (dest / "reproductions").mkdir(exist_ok=True)
        for line in text:
            if line.startswith("!["):
                fig = line[line.index("(") + 1:-1]
                shutil.copy2(report.parent / fig, dest / "reproductions" / f"{name}_{fig}")
                lines.append(f"![{name}](reproductions/{name}_{fig})")
        lines += ["", *keep[2:], ""]
    path = dest / "REPRODUCTIONS.md"
    path.write_text("\n".join(lines))
    return path
