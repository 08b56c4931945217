"""The latency model of one instance: iteration time as a linear function of the batch.

One engine iteration (a forward pass over the batch) takes

    base + prefill_token * P + prefill_token_sq * Q + decode_seq * n + context_token * C

seconds, where P is the number of prompt tokens computed in the iteration, Q the quadratic
attention term of those prompt chunks, n the number of decoding sequences and C the tokens
they attend to. A prompt chunk of c tokens after p already computed tokens contributes
c * (2p + c) to Q: the chunks of one prompt then add up to T**2 for a T-token prompt, so
chunking changes the number of iterations but not the quadratic cost.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IterationCoefficients:
    base: float
    prefill_token: float
    prefill_token_sq: float
    decode_seq: float
    context_token: float

    def iteration_time(self, prefill_tokens: int, prefill_sq: float, decode_seqs: int, context_tokens: int) -> float:
        return (
            self.base
            + self.prefill_token * prefill_tokens
            + self.prefill_token_sq * prefill_sq
            + self.decode_seq * decode_seqs
            + self.context_token * context_tokens
        )


@dataclass(frozen=True)
class Profile:
    """Latency model and limits of one (model, GPU type, tensor-parallel degree) instance."""

    model: str
    gpu: str
    tp: int
    coefficients: IterationCoefficients
    kv_capacity_tokens: int
    block_size: int = 16
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    provenance: str = ""

    @property
    def kv_capacity_blocks(self) -> int:
        return self.kv_capacity_tokens // self.block_size

    @property
    def kv_capacity_tokens_usable(self) -> int:
        """The longest sequence (prompt plus output) the KV cache can hold: whole blocks only."""
        return self.kv_capacity_blocks * self.block_size

    def prefill_time(self, input_tokens: int) -> float:
        """Standalone time of a prompt, computed in chunks of the token budget; yields token 1."""
        chunks = math.ceil(input_tokens / self.max_num_batched_tokens)
        c = self.coefficients
        return chunks * c.base + c.prefill_token * input_tokens + c.prefill_token_sq * input_tokens * input_tokens

    def decode_time(self, input_tokens: float, output_tokens: float) -> float:
        """Standalone time of tokens 2..output: one iteration each, context growing by one.

        Accepts fractional `output_tokens` (estimated means) by the same closed form.
        """
        steps = max(output_tokens - 1.0, 0.0)
        c = self.coefficients
        context = steps * input_tokens + steps * (steps + 1.0) / 2.0
        return steps * (c.base + c.decode_seq) + c.context_token * context

    def standalone_time(self, input_tokens: int, output_tokens: float) -> float:
        """Latency of one call alone on an idle instance."""
        return self.prefill_time(input_tokens) + self.decode_time(input_tokens, output_tokens)
