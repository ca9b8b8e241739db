"""Training: batches, device, losses, optimizers, metrics, checkpoints, the loop and evaluation.

`batches` (splits on a device, bucketing, transposition), `shard_batches` (a sharded split read per
batch), `device` (resolve_device, the precision policy
and autocast, CPU threads), `losses`, `optim`, `metrics` (the literature's NLL, micro F1, frame accuracy),
`checkpoint` (the one place that saves and loads them), `resume` (what last.pt holds to continue a run
exactly), `train` (run_training: a run set up and claimed), `loop` (its epochs), `evaluate` (a model or
baseline on a split), `onset_metrics` (onset-aware datasets: onset F1, the NLL's sounding and onset parts,
the onset baselines), `distributed` (how ranks share a batch), `ray_train` (the trainer on Ray Train workers).
May import: the shared ground, data, nn and runs. Nothing from music, study or cli.
"""
