"""What the gateway reads of a request body: the model, and the call's size for the scheduler.

The body goes to the engine as it came (with vLLM's `priority` set, when the policy orders
the engine's queue). The gateway has no tokenizer: a prompt of token ids counts exactly, text
counts CHARS_PER_TOKEN characters per token (the scheduler's estimate, not the engine's limit).
A `max_tokens` beyond what fits beside the prompt is the engine's to shorten (vLLM does).
The prompt's full runs of GUESS_BLOCK_TOKENS (of token ids, or of text) are the call's prefix
segments, from which the scheduler guesses what each engine's prefix cache holds. The engines
cache 16-token blocks; the guess is coarser, so a 12k-token prompt costs the gateway a
fraction of a millisecond, and what it misses (under GUESS_BLOCK_TOKENS a prompt) does not
change where a call should go.
"""

import math
from dataclasses import dataclass

import orjson

from hexsim.workload.model import Segment, block_segments

CHARS_PER_TOKEN = 4
GUESS_BLOCK_TOKENS = 256


class BodyError(ValueError):
    """A body the gateway cannot route; the message names the field and its value."""


@dataclass(frozen=True)
class CallBody:
    fields: dict
    model: str
    input_tokens: int
    stream: bool
    prefix: tuple[Segment, ...] = ()


def read_body(raw: bytes, chat: bool) -> CallBody:
    """Parse a /v1/completions (or, with `chat`, /v1/chat/completions) body (BodyError if it cannot be routed)."""
    try:
        fields = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BodyError("the request body is not valid JSON") from None
    if not isinstance(fields, dict):
        raise BodyError(f"the request body must be a JSON object, got {type(fields).__name__}")
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        raise BodyError(f"'model' must name the model to use, got {model!r}")
    tokens = _messages_tokens(fields.get("messages")) if chat else _prompt_tokens(fields.get("prompt"))
    stream = fields.get("stream", False)
    if not isinstance(stream, bool):
        raise BodyError(f"'stream' must be true or false, got {stream!r}")
    return CallBody(fields, model, tokens, stream, _prefix(fields, chat))


def _prefix(fields: dict, chat: bool) -> tuple[Segment, ...]:
    """The prompt's full blocks: of token ids exactly, of text by characters (CHARS_PER_TOKEN a token)."""
    if chat:
        text = "\n".join(_message_text(m) for m in fields["messages"])
    else:
        prompt = fields["prompt"]
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if isinstance(prompt, list) and isinstance(prompt[0], int):
            return block_segments(prompt, GUESS_BLOCK_TOKENS)
        if not isinstance(prompt, str):
            return ()  # a batch of prompts: no one prefix
        text = prompt
    return block_segments(text, GUESS_BLOCK_TOKENS * CHARS_PER_TOKEN, GUESS_BLOCK_TOKENS)


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def _prompt_tokens(prompt: object) -> int:
    """The prompt's size, read from its shape: the engine checks every token id (checking them here
    costs a quarter of a millisecond for a few hundred)."""
    if isinstance(prompt, str):
        return _text_tokens(prompt)
    if isinstance(prompt, list) and prompt:
        first = prompt[0]
        if isinstance(first, int):
            return len(prompt)
        if isinstance(first, str):
            return sum(_text_tokens(p) for p in prompt if isinstance(p, str))
        if isinstance(first, list):
            return sum(len(p) for p in prompt if isinstance(p, list))
    raise BodyError(f"'prompt' must be text or token ids, got {_shown(prompt)}")


def _messages_tokens(messages: object) -> int:
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BodyError(f"'messages' must be a list of messages, got {_shown(messages)}")
    chars = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(part.get("text", "")) for part in content if isinstance(part, dict))
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
