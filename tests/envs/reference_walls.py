"""Plain-Python reference of the wall rule (no JAX), written from the HOP code's description
(HOP code, msg_code/env.py: ``block_build`` draws one of '3S', '3L', '4S', '4L' uniformly, a
direction / removed cells uniformly, the anchor with inclusive ``randint`` ranges, skips a
piece that overlaps; ``reset`` redraws the whole layout until ``check_connectivity``), with
hopjax's additions from ``hopjax.envs._grid``: a piece with an empty anchor range is skipped,
a layout needs ``min_free`` free cells, and after ``tries`` rejected layouts there are no walls.

``piece_distribution`` enumerates the exact distribution of one piece's cell set.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction


def _pieces(h: int, w: int):
    """-> list of (probability, anchor rows range, anchor cols range, cells(x, y)) branches."""
    out = []
    half, quarter = Fraction(1, 2), Fraction(1, 4)
    # '3S': direction 0 horizontal (x in 1..h-2, y in 0..w-3), 1 vertical (x 0..h-3, y 1..w-2)
    out.append((quarter * half, (1, h - 2), (0, w - 3), lambda x, y: [(x, y), (x, y + 1), (x, y + 2)]))
    out.append((quarter * half, (0, h - 3), (1, w - 2), lambda x, y: [(x, y), (x + 1, y), (x + 2, y)]))
    # '3L': a 2x2 square (x 0..h-2, y 0..w-2) less one of its 4 cells
    for k in range(4):
        out.append((quarter * quarter, (0, h - 2), (0, w - 2),
                    lambda x, y, k=k: [c for j, c in enumerate([(x, y), (x, y + 1), (x + 1, y), (x + 1, y + 1)]) if j != k]))
    # '4S'
    out.append((quarter * half, (1, h - 2), (0, w - 4), lambda x, y: [(x, y + j) for j in range(4)]))
    out.append((quarter * half, (0, h - 4), (1, w - 2), lambda x, y: [(x + j, y) for j in range(4)]))
    # '4L': a 2x3 (x 0..h-2, y 0..w-3) or 3x2 (x 0..h-3, y 0..w-2) rectangle less a pair
    pairs = [(0, 1), (1, 2), (3, 4), (4, 5)]
    for a, b in pairs:
        out.append((quarter * half * quarter, (0, h - 2), (0, w - 3), lambda x, y, a=a, b=b: [
            c for j, c in enumerate([(x, y), (x, y + 1), (x, y + 2), (x + 1, y), (x + 1, y + 1), (x + 1, y + 2)])
            if j not in (a, b)]))
        out.append((quarter * half * quarter, (0, h - 3), (0, w - 2), lambda x, y, a=a, b=b: [
            c for j, c in enumerate([(x, y), (x + 1, y), (x + 2, y), (x, y + 1), (x + 1, y + 1), (x + 2, y + 1)])
            if j not in (a, b)]))
    return out


def piece_distribution(h: int, w: int) -> dict[frozenset, Fraction]:
    """Exact probability of each cell set one piece draw produces; the mass of pieces with no
    position on the grid is under the key ``frozenset()`` (skipped)."""
    dist: dict[frozenset, Fraction] = {}
    for p, (r0, r1), (c0, c1), cells in _pieces(h, w):
        if r1 < r0 or c1 < c0:
            dist[frozenset()] = dist.get(frozenset(), Fraction(0)) + p
            continue
        n = (r1 - r0 + 1) * (c1 - c0 + 1)
        for x in range(r0, r1 + 1):
            for y in range(c0, c1 + 1):
                key = frozenset(cells(x, y))
                dist[key] = dist.get(key, Fraction(0)) + p / n
    return dist


def connected(free) -> bool:
    """All True cells of a 2-D bool grid (nested lists) form one 4-connected region."""
    h, w = len(free), len(free[0])
    cells = [(r, c) for r in range(h) for c in range(w) if free[r][c]]
    if not cells:
        return True
    seen, todo = {cells[0]}, deque([cells[0]])
    while todo:
        r, c = todo.popleft()
        for q in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= q[0] < h and 0 <= q[1] < w and free[q[0]][q[1]] and q not in seen:
                seen.add(q)
                todo.append(q)
    return len(seen) == len(cells)


def sample_walls(rng, h: int, w: int, num_walls: int, min_free: int, tries: int = 64):
    """One layout as an h x w list of lists of bool, drawn with ``rng`` (numpy Generator)."""
    branches = _pieces(h, w)
    kinds = [[0, 1], [2, 3, 4, 5], [6, 7], list(range(8, 16))]  # 3S, 3L, 4S, 4L branch indices
    for _ in range(tries):
        walls = [[False] * w for _ in range(h)]
        for _ in range(num_walls):
            group = kinds[rng.integers(4)]
            _, (r0, r1), (c0, c1), cells = branches[group[rng.integers(len(group))]]
            if r1 < r0 or c1 < c0:
                continue
            piece = cells(int(rng.integers(r0, r1 + 1)), int(rng.integers(c0, c1 + 1)))
            if not any(walls[r][c] for r, c in piece):
                for r, c in piece:
                    walls[r][c] = True
        free = [[not v for v in row] for row in walls]
        if sum(map(sum, free)) >= min_free and connected(free):
            return walls
    return [[False] * w for _ in range(h)]
