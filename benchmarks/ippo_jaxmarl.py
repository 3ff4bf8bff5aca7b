"""hopjax's PPO trainer vs JaxMARL's IPPO training loop, like for like on hopjax's Stag-Hunt.

The peer is a faithful minimal port of JaxMARL's feed-forward IPPO (FLAIROx/JaxMARL,
baselines/IPPO/ippo_ff_mpe.py; the other ippo_ff_*.py share the loop): one network shared
by all agents (separate actor and critic MLPs, 64x64 tanh, orthogonal init), the agents
flattened into the batch axis (``batchify``: [N, E] -> N E actors), a ``lax.scan`` of
``NUM_STEPS`` env steps with auto-reset inside the env step, GAE by a reverse ``lax.scan``,
then ``UPDATE_EPOCHS`` epochs, each a permutation of all N E ``NUM_STEPS`` transitions split
into ``NUM_MINIBATCHES`` minibatches, with Adam behind global-norm clipping (flax
``TrainState``). What differs from JaxMARL is only the env plumbing: the env is
``hopjax.envs.wrappers.AutoReset(StagHunt)`` through the functional API (arrays [E, N, ...]
instead of per-agent dicts; ``batchify`` is the same stack-and-reshape), an agent's ``done``
is its own ``dones.agents`` or the episode's end, and the logged info is left out.

hopjax's side is its own :class:`~hopjax.algos.ppo.trainer.Trainer` with the same sizes:
``shared_params: true`` (one network, plus its one-hot agent id input), segment rollouts of
the same ``NUM_STEPS`` (``rollout_length``, auto-reset), the same envs, epochs, minibatches
(of whole env sequences, so the same number of transitions each), hidden sizes and optimiser.
Both run ``--updates`` updates per jitted call; timed calls alternate, medians reported.
``--shared-torso`` gives the port hopjax's network shape (one torso, two heads: half the
FLOPs of JaxMARL's two MLPs), so the remaining difference is the loop itself.

Usage: python benchmarks/ippo_jaxmarl.py [--envs 64 256] [--steps 35] [--updates 4] [--rounds 3]
"""

from __future__ import annotations

from typing import NamedTuple

import distrax
import flax.linen as nn
import numpy as np
import optax
from common import Stopwatch, block, compile_timed, load, machine, parser, print_machine, print_table, write_json
from flax.linen.initializers import constant, orthogonal
from flax.training.train_state import TrainState

import jax
import jax.numpy as jnp

from hopjax.algos.ppo import PPOConfig
from hopjax.algos.ppo.config import PPOUpdateConfig
from hopjax.algos.ppo.trainer import Trainer
from hopjax.envs import make
from hopjax.envs.wrappers import AutoReset
from hopjax.loop import Loop


class ActorCritic(nn.Module):
    """JaxMARL ippo_ff_mpe.py's ActorCritic (``shared_torso``: one torso, two heads)."""

    action_dim: int
    activation: str = "tanh"
    shared_torso: bool = False

    @nn.compact
    def __call__(self, x):
        act = nn.relu if self.activation == "relu" else nn.tanh

        def torso(h):
            h = act(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(h))
            return act(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(h))

        a = torso(x)
        logits = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01), bias_init=constant(0.0))(a)
        c = a if self.shared_torso else torso(x)
        critic = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(c)
        return distrax.Categorical(logits=logits), jnp.squeeze(critic, axis=-1)


class Transition(NamedTuple):
    done: jnp.ndarray
    action: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray
    log_prob: jnp.ndarray
    obs: jnp.ndarray


def batchify(x: jnp.ndarray, num_actors: int) -> jnp.ndarray:
    """[E, N, ...] -> [N E, D]: JaxMARL stacks the agents first (``jnp.stack([x[a] for a in agents])``)."""
    return jnp.moveaxis(x, 1, 0).reshape((num_actors, -1))


def unbatchify(x: jnp.ndarray, num_envs: int, num_agents: int) -> jnp.ndarray:
    """[N E] -> [E, N]."""
    return jnp.moveaxis(x.reshape((num_agents, num_envs)), 0, 1)


def make_train(config: dict, env, env_params):
    """JaxMARL's ``make_train`` split into ``init(rng)`` and ``update(runner_state)`` (one
    ``_update_step``), so that a benchmark can time updates apart from the setup."""
    n = env.num_agents(env_params)
    config["NUM_ACTORS"] = n * config["NUM_ENVS"]
    config["MINIBATCH_SIZE"] = config["NUM_ACTORS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
    network = ActorCritic(env.num_actions(env_params), config["ACTIVATION"], config["SHARED_TORSO"])

    def init(rng):
        rng, _rng = jax.random.split(rng)
        init_x = jnp.zeros((int(np.prod(env.observation_shape(env_params))),))
        network_params = network.init(_rng, init_x)
        tx = optax.chain(optax.clip_by_global_norm(config["MAX_GRAD_NORM"]), optax.adam(config["LR"], eps=1e-5))
        train_state = TrainState.create(apply_fn=network.apply, params=network_params, tx=tx)
        rng, _rng = jax.random.split(rng)
        reset_rng = jax.random.split(_rng, config["NUM_ENVS"])
        obsv, env_state = jax.vmap(env.reset, in_axes=(0, None))(reset_rng, env_params)
        return (train_state, env_state, obsv, rng)

    def _env_step(runner_state, unused):
        train_state, env_state, last_obs, rng = runner_state
        obs_batch = batchify(last_obs, config["NUM_ACTORS"])
        rng, _rng = jax.random.split(rng)
        pi, value = network.apply(train_state.params, obs_batch)
        action = pi.sample(seed=_rng)
        log_prob = pi.log_prob(action)
        env_act = unbatchify(action, config["NUM_ENVS"], n)
        rng, _rng = jax.random.split(rng)
        rng_step = jax.random.split(_rng, config["NUM_ENVS"])
        obsv, env_state, reward, dones, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            rng_step, env_state, env_act, env_params)
        done = dones.agents | dones.episode[:, None]
        transition = Transition(batchify(done, config["NUM_ACTORS"]).squeeze(), action, value,
                                batchify(reward, config["NUM_ACTORS"]).squeeze(), log_prob, obs_batch)
        return (train_state, env_state, obsv, rng), transition

    def _calculate_gae(traj_batch, last_val):
        def _get_advantages(gae_and_next_value, transition):
            gae, next_value = gae_and_next_value
            done, value, reward = transition.done, transition.value, transition.reward
            delta = reward + config["GAMMA"] * next_value * (1 - done) - value
            gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * (1 - done) * gae
            return (gae, value), gae

        _, advantages = jax.lax.scan(_get_advantages, (jnp.zeros_like(last_val), last_val), traj_batch,
                                     reverse=True, unroll=16)
        return advantages, advantages + traj_batch.value

    def _loss_fn(params, traj_batch, gae, targets):
        pi, value = network.apply(params, traj_batch.obs)
        log_prob = pi.log_prob(traj_batch.action)
        value_pred_clipped = traj_batch.value + (value - traj_batch.value).clip(-config["CLIP_EPS"], config["CLIP_EPS"])
        value_losses = jnp.square(value - targets)
        value_losses_clipped = jnp.square(value_pred_clipped - targets)
        value_loss = 0.5 * jnp.maximum(value_losses, value_losses_clipped).mean()
        ratio = jnp.exp(log_prob - traj_batch.log_prob)
        gae = (gae - gae.mean()) / (gae.std() + 1e-8)
        loss_actor1 = ratio * gae
        loss_actor2 = jnp.clip(ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"]) * gae
        loss_actor = -jnp.minimum(loss_actor1, loss_actor2).mean()
        entropy = pi.entropy().mean()
        total_loss = loss_actor + config["VF_COEF"] * value_loss - config["ENT_COEF"] * entropy
        return total_loss, (value_loss, loss_actor, entropy)

    def _update_minbatch(train_state, batch_info):
        traj_batch, advantages, targets = batch_info
        grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
        total_loss, grads = grad_fn(train_state.params, traj_batch, advantages, targets)
        return train_state.apply_gradients(grads=grads), total_loss

    def _update_epoch(update_state, unused):
        train_state, traj_batch, advantages, targets, rng = update_state
        rng, _rng = jax.random.split(rng)
        batch_size = config["MINIBATCH_SIZE"] * config["NUM_MINIBATCHES"]
        permutation = jax.random.permutation(_rng, batch_size)
        batch = (traj_batch, advantages, targets)
        batch = jax.tree.map(lambda x: x.reshape((batch_size,) + x.shape[2:]), batch)
        shuffled_batch = jax.tree.map(lambda x: jnp.take(x, permutation, axis=0), batch)
        minibatches = jax.tree.map(lambda x: jnp.reshape(x, [config["NUM_MINIBATCHES"], -1] + list(x.shape[1:])),
                                   shuffled_batch)
        train_state, total_loss = jax.lax.scan(_update_minbatch, train_state, minibatches)
        return (train_state, traj_batch, advantages, targets, rng), total_loss

    def update(runner_state):
        runner_state, traj_batch = jax.lax.scan(_env_step, runner_state, None, config["NUM_STEPS"])
        train_state, env_state, last_obs, rng = runner_state
        _, last_val = network.apply(train_state.params, batchify(last_obs, config["NUM_ACTORS"]))
        advantages, targets = _calculate_gae(traj_batch, last_val)
        update_state = (train_state, traj_batch, advantages, targets, rng)
        update_state, loss_info = jax.lax.scan(_update_epoch, update_state, None, config["UPDATE_EPOCHS"])
        train_state, rng = update_state[0], update_state[-1]
        return (train_state, env_state, last_obs, rng), loss_info

    return init, update


def peer_config(cfg: PPOConfig, shared_torso: bool) -> dict:
    """JaxMARL's config keys from a hopjax config (same envs, steps, epochs, minibatches, optimiser)."""
    return {"NUM_ENVS": cfg.num_envs, "NUM_STEPS": cfg.rollout_length, "UPDATE_EPOCHS": cfg.ppo.num_epochs,
            "NUM_MINIBATCHES": cfg.ppo.num_minibatches, "GAMMA": cfg.ppo.gamma, "GAE_LAMBDA": cfg.ppo.gae_lambda,
            "CLIP_EPS": cfg.ppo.clip_eps, "ENT_COEF": cfg.ppo.ent_coef, "VF_COEF": cfg.ppo.vf_coef,
            "MAX_GRAD_NORM": cfg.ppo.max_grad_norm, "LR": cfg.ppo.lr, "ACTIVATION": cfg.activation,
            "SHARED_TORSO": shared_torso}


def hopjax_config(envs: int, steps: int, updates: int) -> PPOConfig:
    return PPOConfig(name="ippo_bench", env="stag_hunt", shared_params=True, num_envs=envs, rollout_length=steps,
                     hidden_sizes=(64, 64), activation="tanh", chunk_updates=updates,
                     total_steps=envs * steps * updates, ppo=PPOUpdateConfig(anneal_lr=False))


def measure(E: int, steps: int, updates: int, rounds: int, shared_torso: bool) -> dict:
    cfg = hopjax_config(E, steps, updates)
    trainer = Trainer(cfg)
    loop = Loop(trainer)
    runner = trainer.init(jax.random.PRNGKey(0))
    ours = loop.compiled_chunk(runner)
    ours_compile = loop.compile_seconds
    env, p = make("stag_hunt")
    init, update = make_train(peer_config(cfg, shared_torso), AutoReset(env), p)

    def chunk(rs):
        return jax.lax.scan(lambda r, _: update(r), rs, None, updates)

    peer_state = jax.jit(init)(jax.random.PRNGKey(0))
    peer, peer_compile = compile_timed(jax.jit(chunk), peer_state)
    runner, _ = block(ours(runner))  # warm
    peer_state, _ = block(peer(peer_state))
    t_ours, t_peer = [], []
    for _ in range(rounds):  # alternate, so that load from other processes hits both
        with Stopwatch() as sw:
            runner, _ = block(ours(runner))
        t_ours.append(sw.wall)
        with Stopwatch() as sw:
            peer_state, _ = block(peer(peer_state))
        t_peer.append(sw.wall)
    steps_per_call = E * steps * updates
    o, q = float(np.median(t_ours)), float(np.median(t_peer))
    return {"E": E, "steps": steps, "updates": updates, "hopjax_s": o, "ippo_s": q, "ratio": q / o,
            "hopjax_sps": steps_per_call / o, "ippo_sps": steps_per_call / q,
            "hopjax_compile_s": ours_compile, "ippo_compile_s": peer_compile, "load_avg_1min": load()}


def main() -> None:
    p = parser(__doc__.split("\n")[0], "ippo_jaxmarl")
    p.add_argument("--envs", type=int, nargs="+", default=[64, 256])
    p.add_argument("--steps", type=int, default=35, help="NUM_STEPS = rollout_length")
    p.add_argument("--updates", type=int, default=4, help="updates per timed call")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--shared-torso", action="store_true", help="the port with hopjax's one-torso network")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    rows = []
    for E in args.envs:
        rows.append(measure(E, args.steps, args.updates, args.rounds, args.shared_torso))
        r = rows[-1]
        print(f"  E={E}: hopjax {r['hopjax_sps']:,.0f} steps/s, JaxMARL IPPO port {r['ippo_sps']:,.0f} "
              f"(ratio {r['ratio']:.2f}; load {r['load_avg_1min']:.1f})")
    print(f"\n{args.updates} updates of E x {args.steps} steps per call; median of {args.rounds} alternating rounds"
          + ("; port with one shared torso" if args.shared_torso else "; port with JaxMARL's two MLPs"))
    print_table(rows, [("E", "E", "d"), ("hopjax_s", "hopjax s", ".3f"), ("ippo_s", "IPPO port s", ".3f"),
                       ("ratio", "IPPO/hopjax time", ".2f"), ("hopjax_sps", "hopjax steps/s", ",.0f"),
                       ("ippo_sps", "IPPO steps/s", ",.0f"), ("hopjax_compile_s", "hopjax compile", ".1f"),
                       ("ippo_compile_s", "IPPO compile", ".1f")])
    write_json(args.json, {"benchmark": "ippo_jaxmarl", "shared_torso": args.shared_torso, "machine": info,
                           "rows": rows})


if __name__ == "__main__":
    main()
