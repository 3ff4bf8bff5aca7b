"""Pure-JAX helpers shared by the grid-world environments (Stag-Hunt, Snowdrift).

Conventions (both envs):

- A position is ``(row, col)`` int32; row 0 is the top of the grid.
- Movement actions: 0 up (row-1), 1 down (row+1), 2 left (col-1), 3 right (col+1), 4 stay.
  A move is available only if the target cell is inside the grid and not a wall. Players may
  share cells.
- Walls: ``num_walls`` pieces are drawn one after another (HOP code, msg_code/env.py,
  ``block_build``; up to 5 pieces in Stag-Hunt, ``max_block_comp`` 5 in msh_code/train.py).
  Each piece is one of four kinds with probability 1/4: a 3-cell straight piece, a 3-cell L
  (a 2x2 square less one of its cells, 1/4 each), a 4-cell straight piece, a 4-cell L (a 2x3 or
  3x2 rectangle less two adjacent cells at one end of a long side: 8 shapes, 1/8 each); a
  straight piece is horizontal or vertical with probability 1/2. Its anchor (top-left cell) is
  uniform over the positions that keep it inside the grid; as in the HOP code, straight pieces
  never lie along the border row or column parallel to them (a horizontal one lies on rows
  1..H-2, a vertical one on columns 1..W-2). A piece that would overlap a wall already placed
  is skipped (HOP code). A piece with no position on the grid (grid too small for it) is
  skipped (our choice; the HOP code fails there). When all pieces are drawn, the free cells
  must form one 4-connected region, else the whole layout is drawn again (HOP code,
  ``check_connectivity``: the connectivity check is on the finished layout, so a piece that
  disconnects the free space rejects the layout rather than being skipped). Our additions: a
  layout must leave ``min_free`` free cells (room for the entities), and after
  ``WALL_MAX_TRIES`` rejected layouts the grid has no walls (the HOP code retries forever).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from hopjax.envs.moves import DOWN, LEFT, MOVE_DELTAS, NUM_MOVES, RIGHT, STAY, UP  # noqa: F401

WALL_MAX_TRIES = 64

EMPTY_COLOR = (235, 235, 235)
GRID_LINE_COLOR = (200, 200, 200)
WALL_COLOR = (70, 70, 70)
# Distinct player colours (cycled if there are more players).
PLAYER_COLORS = (
    (220, 40, 40),  # red
    (30, 90, 220),  # blue
    (30, 170, 60),  # green
    (240, 150, 0),  # orange
    (150, 60, 200),  # purple
    (0, 190, 200),  # cyan
    (230, 60, 170),  # magenta
    (120, 120, 0),  # olive
)


def _coords(height: int, width: int) -> tuple[jax.Array, jax.Array]:
    rows = jnp.arange(height, dtype=jnp.int32)[:, None] * jnp.ones((1, width), jnp.int32)
    cols = jnp.ones((height, 1), jnp.int32) * jnp.arange(width, dtype=jnp.int32)[None, :]
    return rows, cols


def one_hot_cells(pos: jax.Array, present: jax.Array, height: int, width: int) -> jax.Array:
    """[K, 2] positions, [K] present -> [K, H, W] bool grids (one cell per entity)."""
    rows, cols = _coords(height, width)
    hit = (rows[None] == pos[:, 0, None, None]) & (cols[None] == pos[:, 1, None, None])
    return hit & present[:, None, None]


def _shift_or(m: jax.Array) -> jax.Array:
    """m OR its four 4-neighbour shifts (no wrap-around)."""
    f = jnp.zeros_like(m)
    up = f.at[:-1, :].set(m[1:, :])
    down = f.at[1:, :].set(m[:-1, :])
    left = f.at[:, :-1].set(m[:, 1:])
    right = f.at[:, 1:].set(m[:, :-1])
    return m | up | down | left | right


def free_space_connected(free: jax.Array) -> jax.Array:
    """[H, W] bool -> [] bool: all free cells form a single 4-connected region."""
    flat = free.reshape(-1)
    seed = jnp.zeros_like(flat).at[jnp.argmax(flat)].set(True) & flat
    seed = seed.reshape(free.shape)

    def cond(c):
        return c[1]

    def body(c):
        reach, _ = c
        new = _shift_or(reach) & free
        return new, jnp.any(new != reach)

    reach, _ = lax.while_loop(cond, body, (seed, jnp.array(True)))
    return jnp.all(reach == free)


def _gumbel(u: jax.Array) -> jax.Array:
    """Standard Gumbel noise from uniforms in [0, 1)."""
    tiny = jnp.finfo(jnp.float32).tiny
    return -jnp.log(-jnp.log(jnp.clip(u, tiny, 1.0 - 1e-7)))


# The HOP code's wall pieces (msg_code/env.py, block_build), one row per (kind, orientation):
# (probability, cells as (row, col) offsets from the anchor, (lo, b) rows, (lo, b) cols): the
# anchor row is uniform on lo..H+b and its column on lo..W+b (inclusive, as Python's
# random.randint there). Probabilities: kind 1/4, then orientation and removed cells uniform.
_L4_H = ((0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2))  # 2x3 rectangle, block_build order
_L4_V = ((0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1))  # 3x2 rectangle
_L4_DROP = ((0, 1), (1, 2), (3, 4), (4, 5))  # the cell pairs the HOP code removes
_SQUARE = ((0, 0), (0, 1), (1, 0), (1, 1))
WALL_PIECES = (
    (1 / 8, ((0, 0), (0, 1), (0, 2)), (1, -2), (0, -3)),  # 3 straight, horizontal
    (1 / 8, ((0, 0), (1, 0), (2, 0)), (0, -3), (1, -2)),  # 3 straight, vertical
    *((1 / 16, tuple(c for j, c in enumerate(_SQUARE) if j != k), (0, -2), (0, -2))
      for k in range(4)),  # 3 L: 2x2 less one cell
    (1 / 8, ((0, 0), (0, 1), (0, 2), (0, 3)), (1, -2), (0, -4)),  # 4 straight, horizontal
    (1 / 8, ((0, 0), (1, 0), (2, 0), (3, 0)), (0, -4), (1, -2)),  # 4 straight, vertical
    *((1 / 32, tuple(c for j, c in enumerate(_L4_H) if j not in d), (0, -2), (0, -3))
      for d in _L4_DROP),  # 4 L in a 2x3 rectangle
    *((1 / 32, tuple(c for j, c in enumerate(_L4_V) if j not in d), (0, -3), (0, -2))
      for d in _L4_DROP),  # 4 L in a 3x2 rectangle
)
WALL_UNIFORMS = 3  # per piece: shape, anchor row, anchor col


def _piece_tables(height: int, width: int):
    """Static NumPy tables of WALL_PIECES for an H x W grid: cumulative probabilities [V],
    cell offsets [V, 4, 2] (3-cell pieces repeat their first cell), anchor lows [V, 2] and
    counts [V, 2] (0 where the piece does not fit)."""
    cdf = np.cumsum([p[0] for p in WALL_PIECES])
    cells = np.array([list(p[1]) + [p[1][0]] * (4 - len(p[1])) for p in WALL_PIECES], np.int32)
    lo = np.array([[p[2][0], p[3][0]] for p in WALL_PIECES], np.int32)
    hi = np.array([[height + p[2][1], width + p[3][1]] for p in WALL_PIECES], np.int32)
    return cdf, cells, lo, np.maximum(hi - lo + 1, 0)


def wall_piece(u: jax.Array, height: int, width: int) -> tuple[jax.Array, jax.Array]:
    """[WALL_UNIFORMS] uniforms in [0, 1) -> one piece of WALL_PIECES: (cells [4, 2] int32 (a
    3-cell piece repeats its first cell), fits [] bool (False: no position on this grid))."""
    cdf, offsets, lo, count = (jnp.asarray(x) for x in _piece_tables(height, width))
    v = jnp.minimum(jnp.searchsorted(cdf, u[0] * cdf[-1], side="right"), len(WALL_PIECES) - 1)
    anchor = lo[v] + jnp.minimum((u[1:] * count[v]).astype(jnp.int32), count[v] - 1)
    return anchor + offsets[v], jnp.all(count[v] > 0)


def sample_walls(
    uniforms: jax.Array,
    height: int,
    width: int,
    num_walls: int,
    min_free: int,
) -> jax.Array:
    """[WALL_MAX_TRIES, num_walls, WALL_UNIFORMS] uniforms in [0, 1) -> [H, W] bool wall mask
    (the rule: module docstring). All tries' numbers are drawn up front by the caller: XLA's
    CPU compile time grows quickly with PRNG calls inside loops."""
    if num_walls == 0:
        return jnp.zeros((height, width), bool)

    def place(walls, u):
        cells, fits = wall_piece(u, height, width)
        piece = jnp.any(one_hot_cells(cells, jnp.ones((4,), bool), height, width), 0)
        ok = fits & ~jnp.any(piece & walls)
        return walls | (piece & ok), None

    def cond(c):
        _, ok, tries = c
        return (~ok) & (tries < WALL_MAX_TRIES)

    def body(c):
        _, _, tries = c
        walls, _ = lax.scan(place, jnp.zeros((height, width), bool), uniforms[tries])
        free = ~walls
        ok = free_space_connected(free) & (jnp.sum(free) >= min_free)
        return walls, ok, tries + 1

    init = (jnp.zeros((height, width), bool), jnp.array(False), jnp.int32(0))
    walls, ok, _ = lax.while_loop(cond, body, init)
    return jnp.where(ok, walls, jnp.zeros_like(walls))


def sample_cells_without_replacement(
    uniforms: jax.Array, allowed: jax.Array, count: int
) -> jax.Array:
    """[H*W] uniforms, [H, W] bool allowed -> [count, 2] int32 distinct allowed cells
    (uniform without replacement: Gumbel top-k)."""
    height, width = allowed.shape
    if count == 0:
        return jnp.zeros((0, 2), jnp.int32)
    scores = jnp.where(allowed.reshape(-1), _gumbel(uniforms), -jnp.inf)
    _, idx = lax.top_k(scores, count)
    return jnp.stack([idx // width, idx % width], axis=-1).astype(jnp.int32)


def sample_cells_with_replacement(
    uniforms: jax.Array, allowed: jax.Array, count: int
) -> jax.Array:
    """[count, H*W] uniforms, [H, W] bool allowed -> [count, 2] int32 allowed cells, i.i.d.
    uniform (Gumbel argmax)."""
    height, width = allowed.shape
    scores = jnp.where(allowed.reshape(-1)[None], _gumbel(uniforms), -jnp.inf)
    idx = jnp.argmax(scores, axis=-1)
    return jnp.stack([idx // width, idx % width], axis=-1).astype(jnp.int32)


def sample_layout(
    key: jax.Array,
    height: int,
    width: int,
    num_walls: int,
    num_entities: int,
    num_agents: int,
    players_on_entities: bool = False,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Reset layout -> (walls [H, W] bool, entity cells [E, 2] int32, player cells [N, 2] int32).

    Walls first (:func:`sample_walls`), then the entities on distinct free cells (uniform
    without replacement), then each player uniformly on a free cell (players may share cells).
    ``players_on_entities=False``: a player's cell holds no entity and the walls leave
    ``num_entities + 1`` free cells. ``True``: players and entities are drawn independently, so
    an entity may lie under a player, and the walls leave ``num_entities`` free cells (at
    least 1).
    """
    cells = height * width
    n_wall_u = WALL_MAX_TRIES * WALL_UNIFORMS * num_walls
    u = jax.random.uniform(key, (n_wall_u + (num_agents + 1) * cells,))  # one PRNG call
    min_free = max(num_entities + (0 if players_on_entities else 1), 1)
    walls = sample_walls(u[:n_wall_u].reshape(WALL_MAX_TRIES, num_walls, WALL_UNIFORMS),
                         height, width, num_walls, min_free)
    u = u[n_wall_u:]
    ent = sample_cells_without_replacement(u[:cells], ~walls, num_entities)
    allowed = ~walls
    if not players_on_entities:
        allowed &= ~jnp.any(one_hot_cells(ent, jnp.ones((num_entities,), bool), height, width), 0)
    players = sample_cells_with_replacement(u[cells:].reshape(num_agents, cells), allowed, num_agents)
    return walls, ent, players


def move_avail(positions: jax.Array, walls: jax.Array) -> jax.Array:
    """[N, 2] positions -> [N, 5] bool availability of up/down/left/right/stay."""
    height, width = walls.shape
    target = positions[:, None, :] + jnp.asarray(MOVE_DELTAS)[None, :, :]  # [N, 5, 2]
    inside = (
        (target[..., 0] >= 0)
        & (target[..., 0] < height)
        & (target[..., 1] >= 0)
        & (target[..., 1] < width)
    )
    r = jnp.clip(target[..., 0], 0, height - 1)
    c = jnp.clip(target[..., 1], 0, width - 1)
    return inside & ~walls[r, c]


def sanitize_actions(actions: jax.Array, avail: jax.Array) -> jax.Array:
    """Unavailable or out-of-range actions become STAY."""
    num_actions = avail.shape[-1]
    a = jnp.asarray(actions, jnp.int32)
    in_range = (a >= 0) & (a < num_actions)
    a_c = jnp.clip(a, 0, num_actions - 1)
    ok = in_range & jnp.take_along_axis(avail, a_c[:, None], axis=1)[:, 0]
    return jnp.where(ok, a_c, STAY)


def apply_moves(positions: jax.Array, actions: jax.Array) -> jax.Array:
    """Moves players by already-sanitised actions (interact actions do not move)."""
    is_move = actions < NUM_MOVES
    delta = jnp.asarray(MOVE_DELTAS)[jnp.clip(actions, 0, NUM_MOVES - 1)]
    return positions + jnp.where(is_move[:, None], delta, 0)


def build_obs(
    positions: jax.Array,
    alive: jax.Array,
    extra: jax.Array,
    t: jax.Array,
    max_steps: int,
    time_channel: bool,
    seats: jax.Array | None = None,
) -> jax.Array:
    """Per-agent observations [N, H, W, C] (``seats`` [K] int: only those agents', [K, H, W, C],
    equal to the full result's rows ``seats``; what a tree search needs per node).

    Channels for agent i: players i, i+1, ..., i+N-1 (mod N) - own position first - then the
    ``extra`` channels [H, W, K] (walls, entities), then (if ``time_channel``) a constant
    t / max_steps plane. Dead players are absent from every grid; a dead agent's obs is zeros.
    """
    n = positions.shape[0]
    height, width, _ = extra.shape
    seats = jnp.arange(n) if seats is None else jnp.asarray(seats, jnp.int32)
    k = seats.shape[0]
    order = (seats[:, None] + jnp.arange(n)[None, :]) % n  # [K, N]
    # The players' cells are reordered (a few int32s), then compared with the grid directly in
    # the [K, H, W, N] layout: no float planes are gathered and transposed, which is what cost
    # where XLA fuses this build into its consumer (the same values; benchmarks/RESULTS.md,
    # "Environment throughput").
    pos, live = positions[order], alive[order]  # [K, N, 2], [K, N]
    rows, cols = _coords(height, width)
    per_agent = ((rows[None, :, :, None] == pos[:, None, None, :, 0])
                 & (cols[None, :, :, None] == pos[:, None, None, :, 1]) & live[:, None, None, :])
    parts = [per_agent.astype(jnp.float32), jnp.broadcast_to(extra.astype(jnp.float32), (k,) + extra.shape)]
    if time_channel:
        frac = jnp.asarray(t, jnp.float32) / jnp.float32(max_steps)
        parts.append(jnp.full((k, height, width, 1), frac, jnp.float32))
    obs = jnp.concatenate(parts, axis=-1)
    return obs * alive[seats][:, None, None, None].astype(jnp.float32)


def max_wall_cells(height: int, width: int, num_walls: int) -> int:
    """Most wall cells :func:`sample_walls` can place: ``num_walls`` pieces of at most 4 cells,
    at most the whole grid."""
    return min(max(len(p[1]) for p in WALL_PIECES) * num_walls, height * width)


def mask_cells(mask: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    """[H, W] bool with at most ``size`` True cells -> (flat cells ``row * W + col`` [size]
    int32 in row-major order, present [size] bool; padding rows are cell 0, not present)."""
    flat = mask.reshape(-1)
    (cells,) = jnp.nonzero(flat, size=size, fill_value=0)
    return cells.astype(jnp.int32), jnp.arange(size) < jnp.sum(flat)


def point_cells(pos: jax.Array, width: int) -> jax.Array:
    """[K, 2] (row, col) -> [K] int32 flat cells ``row * W + col``."""
    return (pos[:, 0] * width + pos[:, 1]).astype(jnp.int32)


def _first_present(cells: jax.Array, present: jax.Array) -> jax.Array:
    """[M] cells, [M] present -> [M] bool: present and no earlier present entry on that cell (a
    channel's dense grid is 1 wherever any entity is, however many share the cell)."""
    m = cells.shape[0]
    earlier = jnp.tril(jnp.ones((m, m), bool), -1)  # [k, j]: j < k
    taken = jnp.any(earlier & (cells[:, None] == cells[None, :]) & present[None, :], axis=1)
    return present & ~taken


Channels = tuple[tuple[int, jax.Array, jax.Array], ...]  # (extra channel j, cells [M], present [M])


def wall_obs_sparse(walls: jax.Array, params, channels: int) -> tuple[jax.Array, jax.Array]:
    """A grid env's walls as sparse observation entries (idx [M] int32, val [M] float32) with
    ``M = max_wall_cells(height, width, num_walls)`` (``params`` has those fields and
    ``num_agents``; the wall channel follows the N player channels; ``channels`` = C)."""
    m = max_wall_cells(params.height, params.width, params.num_walls)
    return extra_obs_sparse(((0, *mask_cells(walls, m)),), params.num_agents, channels)


def wall_obs_dense(walls: jax.Array, params, channels: int) -> jax.Array:
    """The walls' part of a live seat's observation, dense: [H, W, C] float32, the wall mask in
    the wall channel (the one after the N player channels), zeros elsewhere; equal to adding
    :func:`wall_obs_sparse`'s entries into zeros, without listing the cells."""
    planes = jnp.zeros((*walls.shape, channels), jnp.float32)
    return planes.at[..., params.num_agents].set(walls.astype(jnp.float32))


def extra_obs_sparse(extra: Channels, num_agents: int, channels: int) -> tuple[jax.Array, jax.Array]:
    """Extra channels (``(j, cells, present)``: channel ``num_agents + j``'s grid is 1 on the
    present cells, repeats counted once) -> (idx [sum M] int32 ``cell * channels + channel``,
    val [sum M] float32)."""
    if not extra:
        return jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.float32)
    idx = jnp.concatenate([cells * channels + (num_agents + j) for j, cells, _ in extra])
    val = jnp.concatenate([_first_present(cells, present) for _, cells, present in extra])
    return idx.astype(jnp.int32), val.astype(jnp.float32)


def build_obs_sparse(
    positions: jax.Array,
    alive: jax.Array,
    extra: Channels,
    channels: int,
    height: int,
    width: int,
    t: jax.Array,
    max_steps: int,
    time_channel: bool,
    seats: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """:func:`build_obs` for the seats ``seats`` [K] as sparse entries, the extra channels
    listed in ``extra`` only (:func:`extra_obs_sparse`; the others, e.g. the walls, are read
    once per episode with it): (idx [K, P] int32, val [K, P] float32),
    ``P = N + sum(M) + time_channel``, ``channels`` = C of the observation.

    Index ``cell * C + channel`` is the observation's flat (row-major ``[H, W, C]``) index
    (``cell = row * W + col``); ``H * W * C + channel`` is the whole plane of that channel (the
    time plane ``t / max_steps``). Scattering ``val`` at ``idx`` into zeros ``[H * W * C + C]``
    (the plane rows added to every cell of their channel) gives :func:`build_obs`'s
    observations exactly, less the unlisted extra channels (``tests/envs/test_sparse_obs.py``).
    Our choice (not in any source): an MLP's first layer gathers weight rows instead of
    multiplying a mostly-zero observation (:func:`hopjax.models.sparse.sparse_first_layer`).
    """
    n, k = positions.shape[0], seats.shape[0]
    seats = jnp.asarray(seats, jnp.int32)
    order = (seats[:, None] + jnp.arange(n)[None, :]) % n  # [K, N]
    e_idx, e_val = extra_obs_sparse(extra, n, channels)
    idx = [point_cells(positions, width)[order] * channels + jnp.arange(n, dtype=jnp.int32),
           jnp.broadcast_to(e_idx, (k,) + e_idx.shape)]
    val = [alive[order].astype(jnp.float32), jnp.broadcast_to(e_val, (k,) + e_val.shape)]
    if time_channel:
        idx.append(jnp.full((k, 1), height * width * channels + channels - 1, jnp.int32))
        val.append(jnp.full((k, 1), jnp.asarray(t, jnp.float32) / jnp.float32(max_steps), jnp.float32))
    return jnp.concatenate(idx, -1), jnp.concatenate(val, -1) * alive[seats][:, None].astype(jnp.float32)


def render_grid(
    cell_colors: jax.Array,
    positions: jax.Array,
    alive: jax.Array,
    cell: int,
) -> jax.Array:
    """uint8 [H*cell, W*cell, 3]: cell background colours plus one square per live player.

    Every player has its own slot inside a cell (a k x k layout, k = ceil(sqrt(N))), so players
    sharing a cell stay visible; thin grid lines separate cells.
    """
    height, width, _ = cell_colors.shape
    n = positions.shape[0]
    img = jnp.repeat(jnp.repeat(cell_colors.astype(jnp.int32), cell, 0), cell, 1)
    py = jnp.arange(height * cell)[:, None]
    px = jnp.arange(width * cell)[None, :]
    cy, cx = py // cell, px // cell
    sy, sx = py % cell, px % cell
    k = 1
    while k * k < n:
        k += 1
    slot = max(cell // k, 1)
    margin = max(slot // 6, 1) if slot > 3 else 0
    for i in range(n):
        color = jnp.array(PLAYER_COLORS[i % len(PLAYER_COLORS)], jnp.int32)
        oy, ox = (i // k) * slot, (i % k) * slot
        inside = (
            (cy == positions[i, 0])
            & (cx == positions[i, 1])
            & (sy >= oy + margin)
            & (sy < oy + slot - margin)
            & (sx >= ox + margin)
            & (sx < ox + slot - margin)
            & alive[i]
        )
        img = jnp.where(inside[..., None], color, img)
    line = (sy == 0) | (sx == 0)
    img = jnp.where(line[..., None], jnp.array(GRID_LINE_COLOR, jnp.int32), img)
    return img.astype(jnp.uint8)


def check_overrides(cls, overrides: dict) -> None:
    """Raise ValueError naming any unknown override key and listing the valid ones."""
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in overrides:
        if key not in valid:
            raise ValueError(
                f"unknown parameter {key!r} for {cls.__name__}; valid parameters: "
                + ", ".join(valid)
            )
