"""The engine emulator's answers, whole and streamed, in the shapes of vLLM's OpenAI server.

Every generated token is the text " token" and every request generates exactly its
`max_tokens` (no EOS), so it finishes for "length". A streamed answer is one Server-Sent Event
per wake-up of the request's handler (see `emulated_engine.py`), carrying every token since
the previous one, then a usage chunk if asked for, then `data: [DONE]`. A chat stream starts,
as vLLM's does once the engine has produced the first token, with a chunk whose delta is
`{"role": "assistant", "content": ""}`.
"""

import json
from collections.abc import AsyncIterator
from contextlib import aclosing

from hexsim.live.emulated_engine import EmulatedEngine, EngineRequest
from hexsim.live.emulator_requests import Generation

TOKEN_TEXT = " token"
ROLE = "assistant"


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion(head: dict, generation: Generation) -> dict:
    """A whole /v1/completions answer; `head` holds its id, created time and model."""
    choice = _completion_choice(TOKEN_TEXT * generation.max_tokens, "length")
    return head | {"object": "text_completion", "choices": [choice], "usage": _final_usage(generation)}


def chat_completion(head: dict, generation: Generation) -> dict:
    """A whole /v1/chat/completions answer."""
    message = {
        "role": ROLE,
        "content": TOKEN_TEXT * generation.max_tokens,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "reasoning": None,
    }
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "length", "stop_reason": None}
    return head | {
        "object": "chat.completion",
        "choices": [choice],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": _final_usage(generation),
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }


async def completion_events(
    engine: EmulatedEngine, handle: EngineRequest, generation: Generation, head: dict
) -> AsyncIterator[str]:
    """vLLM's SSE stream of a completion: a chunk per wake-up (the last one says why it finished), usage, [DONE]."""
    head = head | {"object": "text_completion"}
    sent = 0
    async with aclosing(engine.tokens(handle)) as tokens:
        async for count in tokens:
            finish = "length" if count == generation.max_tokens else None
            choices = [_completion_choice(TOKEN_TEXT * (count - sent), finish)]
            sent = count
            so_far = usage(generation.prompt_tokens, count) if generation.continuous_usage else None
            yield _event(head | {"choices": choices, "usage": so_far})
    if generation.include_usage:
        yield _event(head | {"choices": [], "usage": _final_usage(generation)})
    yield "data: [DONE]\n\n"


async def chat_events(
    engine: EmulatedEngine, handle: EngineRequest, generation: Generation, head: dict
) -> AsyncIterator[str]:
    """vLLM's SSE stream of a chat completion: the role, a content chunk per wake-up, usage, [DONE]."""
    head = head | {"object": "chat.completion.chunk"}
    continuous = generation.continuous_usage
    sent = 0
    async with aclosing(engine.tokens(handle)) as tokens:
        async for count in tokens:
            if sent == 0:
                choice = {"index": 0, "delta": {"role": ROLE, "content": ""}, "logprobs": None, "finish_reason": None}
                first = head | {"choices": [choice], "prompt_token_ids": None, "prompt_text": None}
                yield _event(first | ({"usage": usage(generation.prompt_tokens, 0)} if continuous else {}))
            finish = "length" if count == generation.max_tokens else None
            delta = {"content": TOKEN_TEXT * (count - sent)}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish, "token_ids": None}
            if finish:
                choice["stop_reason"] = None
            sent = count
            chunk = head | {"choices": [choice], "kv_transfer_params": None}
            yield _event(chunk | ({"usage": usage(generation.prompt_tokens, count)} if continuous else {}))
    if generation.include_usage:
        yield _event(head | {"choices": [], "usage": _final_usage(generation)})
    yield "data: [DONE]\n\n"


def _final_usage(generation: Generation) -> dict:
    return usage(generation.prompt_tokens, generation.max_tokens)


def _event(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"


def _completion_choice(text: str, finish_reason: str | None) -> dict:
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason, "stop_reason": None}
