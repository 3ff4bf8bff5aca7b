from hopjax.runtime import adaptation as A
cfg = A.hop_config("configs/stag_hunt_hop.yaml", ["total_steps=64000", "name=stag_hunt_hop_64k"])
A.adaptation_table(cfg, {}, seeds=2, episodes=5, num_envs=16, out="runs/issue14_hop64k")
