"""vLLM's default engine limits, which depend on the GPU's memory.

vLLM V1 serving through its API server uses a per-iteration token budget
(`max_num_batched_tokens`) of 8192 on GPUs with at least 70 GiB and 2048 on smaller ones,
and at most 256 running sequences (`max_num_seqs`).
"""

from hexsim.profiles.gpus import Gpu

LARGE_GPU_GIB = 70
MAX_NUM_SEQS = 256


def default_token_budget(gpu: Gpu) -> int:
    return 8192 if gpu.hbm_gib >= LARGE_GPU_GIB else 2048
