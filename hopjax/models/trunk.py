"""Observation trunks for HOP's networks: flatten (MLP) or a 3x3 conv stack, then flatten.

:class:`Trunk` maps observations ``[..., *obs_shape]`` to features ``[..., D]``:

- ``conv_channels = ()`` (the ``mlp`` trunk): the observation flattened, ``D = prod(obs_shape)``;
  the fully connected layers after it belong to the network that uses the trunk.
- ``conv_channels = (16, 32, 32)`` (the ``conv`` trunk): one 3x3 convolution per entry, stride 1,
  zero padding 1 ("SAME"), each followed by the activation, over a ``[H, W, C]`` grid
  observation; then flattened, ``D = H * W * conv_channels[-1]``.

Source: the HOP code's co-player model and planner net use conv 16-32-32 (3x3, padding 1) then
FC 512 (Huang et al., ICML 2024, arXiv 2406.08002; HOP code, ``msg_code/train.py`` and its
Snowdrift co-player model). Kaiming initialisation there; hopjax uses orthogonal(sqrt 2)
kernels like its other networks (our choice: one initialiser across the package).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hopjax.models.policy import _ACTIVATIONS
from hopjax.models.init import orthogonal

TRUNKS = ("mlp", "conv")


class Trunk(nn.Module):
    """obs [..., *obs_shape] (any float/int dtype) -> float32 features [..., D] (module doc).

    ``obs_ndim`` is ``len(obs_shape)``; a conv trunk needs ``obs_ndim == 3`` ([H, W, C]) and
    raises ValueError otherwise."""

    conv_channels: Sequence[int] = ()
    activation: str = "relu"
    obs_ndim: int = 3

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        lead = obs.shape[: obs.ndim - self.obs_ndim]
        x = obs.astype(jnp.float32)
        if self.conv_channels:
            if self.obs_ndim != 3:
                raise ValueError(f"a conv trunk needs [H, W, C] observations, got {self.obs_ndim} dims")
            act = _ACTIVATIONS[self.activation]
            x = x.reshape(-1, *obs.shape[len(lead):])
            for i, c in enumerate(self.conv_channels):
                x = act(nn.Conv(int(c), (3, 3), padding="SAME",
                                kernel_init=orthogonal(np.sqrt(2)), name=f"conv_{i}")(x))
        return x.reshape(*lead, -1)
