"""Running the pipeline on several GPUs and on clusters.

- `gpu_slots`: one GPU per concurrent job on a machine (lock-file pool behind CUDA_VISIBLE_DEVICES);
- `ddp`: rules with `gpu > 1` run as DistributedDataParallel under torchrun, and the engine helpers for it;
- `local_slurm`: a one-node SLURM cluster on localhost for tests and for trying `profiles/slurm`.
"""
