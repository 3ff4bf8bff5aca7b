"""Fixed-shape episode storage: EpisodeBatch, replay ring buffer and masked statistics."""

from hopjax.buffers.episode import (
    EpisodeBatch,
    Field,
    Scheme,
    concat,
    episode_slice,
    init_batch,
    max_t_filled,
    take,
    valid_mask,
    write,
    write_const,
)
from hopjax.buffers.layout import swap_batch_time, time_major
from hopjax.buffers.masked import (
    masked_count,
    masked_mean,
    masked_returns,
    masked_sum,
    select,
    transition_mask,
)
from hopjax.buffers.replay import (
    ReplayBufferState,
    can_sample,
    init_buffer,
    insert,
    sample,
    sample_indices,
)

__all__ = [
    "EpisodeBatch",
    "Field",
    "ReplayBufferState",
    "Scheme",
    "can_sample",
    "concat",
    "episode_slice",
    "init_batch",
    "init_buffer",
    "insert",
    "masked_count",
    "masked_mean",
    "masked_returns",
    "masked_sum",
    "max_t_filled",
    "sample",
    "sample_indices",
    "select",
    "swap_batch_time",
    "take",
    "time_major",
    "transition_mask",
    "valid_mask",
    "write",
    "write_const",
]
