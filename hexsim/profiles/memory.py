"""KV-cache capacity of a tensor-parallel instance from its memory, and the smallest degree that serves a model.

vLLM takes `gpu_memory_utilization` of every GPU's memory, holds the BF16 weights (split across
the group) and a reserve per GPU for activations and CUDA graphs, and gives the rest to the
KV cache, which is split across the group like the weights (the KV heads are sharded).
"""

import math

from hexsim.errors import InputError
from hexsim.profiles.gpus import Gpu
from hexsim.profiles.models import ModelSpec

TP_DEGREES = (1, 2, 4, 8)
GPU_MEMORY_UTILIZATION = 0.9
ACTIVATION_RESERVE_GIB = 2.0


def kv_capacity_tokens(
    model: ModelSpec,
    gpu: Gpu,
    tp: int,
    gpu_memory_utilization: float = GPU_MEMORY_UTILIZATION,
    activation_reserve_gib: float = ACTIVATION_RESERVE_GIB,
) -> int:
    """Tokens of KV cache left on `tp` GPUs; 0 when the weights and reserves do not fit."""
    free = tp * gpu.hbm_bytes * gpu_memory_utilization - model.weight_bytes() - tp * activation_reserve_gib * 2**30
    return max(math.floor(free / model.kv_bytes_per_token()), 0)


def smallest_tp(model: ModelSpec, gpu: Gpu, where: str = "tensor parallelism") -> int:
    """The smallest of 1, 2, 4, 8 GPUs whose KV cache holds at least one full context of the model."""
    for tp in TP_DEGREES:
        if kv_capacity_tokens(model, gpu, tp) >= model.max_context:
            return tp
    best = kv_capacity_tokens(model, gpu, TP_DEGREES[-1])
    raise InputError(
        where,
        f"{model.name} does not fit on {TP_DEGREES[-1]} x {gpu.name} with room for one {model.max_context}-token "
        f"context (KV cache for {best} tokens)",
    )
