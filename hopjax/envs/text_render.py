"""Text grids of the hopjax grid worlds (the PettingZoo adapter's ``"ansi"`` and text
``"human"`` render modes). Host-side numpy: this is display code, never traced.

One character per cell, row 0 on top:

- ``#`` wall, ``.`` empty;
- ``0``-``9`` the live player with that index (``P`` for players 10 and up), ``+`` two or more
  live players in one cell;
- ``S`` stag and ``h`` hare (Stag-Hunt), ``*`` snowdrift (Snowdrift).

Players are drawn over the animal or drift they stand on; every cell holding more than one
thing is then listed in full on a ``stacked:`` line, e.g. ``(1,2) 0 3 S``. Captured animals,
removed drifts and removed players are not drawn. The first line is ``<env> t=<t>/<max_steps>``
and a ``legend:`` line follows the grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

WALL, EMPTY, CROWD = "#", ".", "+"
STAG, HARE, DRIFT = "S", "h", "*"


def player_char(i: int) -> str:
    return str(i) if i < 10 else "P"


def grid_text(
    title: str,
    walls: Any,
    positions: Any,
    alive: Any,
    things: list[tuple[str, Any, Any]],
    legend: str,
) -> str:
    """-> the text grid (module docstring). walls: bool [H, W]; positions: int [N, 2] (row,
    col); alive: bool [N]; things: (char, positions int [K, 2], present bool [K]) per kind of
    object, at most one object per cell."""
    walls = np.asarray(walls, bool)
    height, width = walls.shape
    stacks: list[list[list[str]]] = [[[] for _ in range(width)] for _ in range(height)]
    for i, ((r, c), live) in enumerate(zip(np.asarray(positions), np.asarray(alive))):
        if live:
            stacks[r][c].append(player_char(i))
    for char, pos, present in things:
        for (r, c), here in zip(np.asarray(pos), np.asarray(present)):
            if here:
                stacks[r][c].append(char)
    rows, stacked = [], []
    for r in range(height):
        row = ""
        for c in range(width):
            row += WALL if walls[r, c] else _cell_char(stacks[r][c])
            if len(stacks[r][c]) > 1:
                stacked.append(f"({r},{c}) " + " ".join(stacks[r][c]))
        rows.append(row)
    n = len(alive)
    players = "0" if n == 1 else f"0-{min(n, 10) - 1}" + (" (P: 10 and up)" if n > 10 else "")
    lines = [title, *rows, f"legend: {WALL} wall, {EMPTY} empty, {players} player, "
             f"{CROWD} several players, {legend}"]
    if stacked:
        lines.append("stacked: " + "; ".join(stacked))
    return "\n".join(lines)


def _cell_char(stack: list[str]) -> str:
    players = [s for s in stack if s.isdigit() or s == "P"]
    if len(players) > 1:
        return CROWD
    return stack[0] if stack else EMPTY


def stag_hunt_text(state: Any, params: Any) -> str:
    """Text grid of a ``StagHuntState`` (``hopjax.envs.stag_hunt``)."""
    return grid_text(
        f"stag_hunt t={int(state.t)}/{params.max_steps}",
        state.walls,
        state.positions,
        state.alive,
        [(STAG, state.stag_pos, state.stag_alive), (HARE, state.hare_pos, state.hare_alive)],
        f"{STAG} stag, {HARE} hare",
    )


def snowdrift_text(state: Any, params: Any) -> str:
    """Text grid of a ``SnowdriftState`` (``hopjax.envs.snowdrift``)."""
    return grid_text(
        f"snowdrift t={int(state.t)}/{params.max_steps}",
        state.walls,
        state.positions,
        state.alive,
        [(DRIFT, state.drift_pos, state.drift_alive)],
        f"{DRIFT} snowdrift",
    )


# env.name -> text renderer (state with numpy or JAX leaves, params) -> str
TEXT_RENDERERS = {"stag_hunt": stag_hunt_text, "snowdrift": snowdrift_text}
