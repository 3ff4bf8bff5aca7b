"""The movement actions every hopjax grid world shares: numpy constants, importable without JAX.

Actions ``0..NUM_MOVES-1`` move a player or keep it in place; an env's interact actions
(hunt, shovel) come after them. ``MOVE_DELTAS[a]`` is the ``(d_row, d_col)`` of move ``a``
(row 0 is the top of the grid). Arrays here are numpy, so importing this module creates no JAX
array; jitted code converts them where it indexes them with traced values.
"""

from __future__ import annotations

import numpy as np

UP, DOWN, LEFT, RIGHT, STAY = 0, 1, 2, 3, 4
NUM_MOVES = 5  # up, down, left, right, stay

# (d_row, d_col) of the five movement actions: int32 [NUM_MOVES, 2].
MOVE_DELTAS = np.array([[-1, 0], [1, 0], [0, -1], [0, 1], [0, 0]], dtype=np.int32)
MOVE_DELTAS.setflags(write=False)
