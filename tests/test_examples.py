"""The scripts under examples/ run as documented in the README."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_episode_buffer_demo_matches_trimmed_numpy():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's hopjax, not an installed one
    out = subprocess.run([sys.executable, "examples/episode_buffer_demo.py"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "buffer: 16/16 episodes" in out.stdout
    diff = float(re.search(r"max abs difference: (\S+)", out.stdout).group(1))
    assert diff < 1e-5
