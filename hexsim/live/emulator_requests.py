"""The request bodies the engine emulator accepts, validated as vLLM's OpenAI server validates them.

`/v1/completions` takes a `prompt`: a string counts one token per whitespace-separated word, a
list of token ids one token per id. `/v1/chat/completions` takes `messages`, each a `role` and
a `content` that is a string or a list of `{"type": "text", "text": ...}` parts; the prompt
counts one token per whitespace-separated word of every message's text (no chat template adds
tokens). As vLLM 0.33 does, both refuse a prompt of the whole context length or more and a
`max_tokens` beyond it, and shorten a `max_tokens` that does not fit beside the prompt to what
does; they refuse token ids outside the vocabulary and a `stream_interval` below 1. The emulator
returns one choice per request: `n` other than 1 is refused.
"""

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions


class RequestError(Exception):
    """A request the emulator refuses: the message for the client, and the HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What a request may ask of the model: tokens in context, and token ids below `vocab_size` (if known)."""

    context_length: int
    vocab_size: int | None = None


@dataclass(frozen=True)
class Generation:
    """What a valid request asks of the engine, and how to answer it.

    `stream_interval` is the effective one: the larger of the server's and the request's.
    """

    prompt_tokens: int
    max_tokens: int
    priority: int
    stream: bool
    include_usage: bool
    continuous_usage: bool
    stream_interval: int
    prompt: Sequence[int | str] = ()  # its tokens: ids, or words of text, for prefix caching


def parse_completion(body: object, model_name: str, limits: Limits, stream_interval: int) -> Generation:
    """Validate a /v1/completions body; raises RequestError."""
    fields = _fields(body, model_name)
    max_tokens = _integer(fields, "max_tokens", DEFAULT_MAX_TOKENS, minimum=1)
    prompt = _prompt(fields.get("prompt"), limits)
    return _generation(fields, prompt, "max_tokens", max_tokens, limits, stream_interval)


def parse_chat(body: object, model_name: str, limits: Limits, stream_interval: int) -> Generation:
    """Validate a /v1/chat/completions body; raises RequestError.

    `max_completion_tokens` wins over `max_tokens`; without either, the output may fill the
    context, as vLLM allows it.
    """
    fields = _fields(body, model_name)
    max_tokens = _integer(fields, "max_tokens", None, minimum=1)
    max_completion_tokens = _integer(fields, "max_completion_tokens", None, minimum=1)
    prompt = _message_words(fields.get("messages"))
    if max_completion_tokens is not None:
        key, max_tokens = "max_completion_tokens", max_completion_tokens
    else:
        key = "max_tokens"
        if max_tokens is None:
            max_tokens = limits.context_length
    return _generation(fields, prompt, key, max_tokens, limits, stream_interval)


def _fields(body: object, model_name: str) -> dict:
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    model = body.get("model")
    if model is not None and model != model_name:
        raise RequestError(f"The model `{model}` does not exist.", 404)
    return body


def _generation(
    fields: dict, prompt: Sequence[int | str], max_key: str, max_tokens: int, limits: Limits, server_interval: int
) -> Generation:
    """The checks both endpoints share, once the prompt is read and the output length known."""
    prompt_tokens = len(prompt)
    context = limits.context_length
    if prompt_tokens >= context:
        raise RequestError(
            f"This model's maximum context length is {context} tokens. However, your prompt contains "
            f"{prompt_tokens} input tokens, which exceeds this limit even without any output tokens. "
            "Please reduce the length of the input prompt."
        )
    if max_tokens > context:
        raise RequestError(
            f"{max_key}={max_tokens} cannot be greater than max_model_len={context}. "
            "Please request fewer output tokens."
        )
    max_tokens = min(max_tokens, context - prompt_tokens)
    min_tokens = _integer(fields, "min_tokens", 0, minimum=0)
    if min_tokens > max_tokens:
        raise RequestError(f"min_tokens must be less than or equal to {max_key}={max_tokens}, got {min_tokens}")
    priority = _integer(fields, "priority", 0, minimum=None)
    n = _integer(fields, "n", 1, minimum=1)
    if n != 1:
        raise RequestError(f"n must be 1: the emulator returns one choice per request, got {n}")
    _boolean(fields, "ignore_eos")
    stream = _boolean(fields, "stream")
    options = fields.get("stream_options")
    if options is not None and not stream:
        raise RequestError("Stream options can only be defined when `stream=True`.")
    if options is not None and not isinstance(options, dict):
        raise RequestError("stream_options must be an object")
    include_usage = _boolean(options or {}, "include_usage")
    continuous = include_usage and _boolean(options or {}, "continuous_usage_stats")
    interval = max(_integer(fields, "stream_interval", 1, minimum=1), server_interval)
    return Generation(prompt_tokens, max_tokens, priority, stream, include_usage, continuous, interval, prompt)


def _prompt(prompt: object, limits: Limits) -> Sequence[int | str]:
    if prompt is None:
        raise RequestError("prompt is required")
    if isinstance(prompt, str):
        tokens = prompt.split()
    elif isinstance(prompt, list) and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in prompt):
        tokens = prompt
        if tokens and limits.vocab_size is not None and max(prompt) >= limits.vocab_size:
            raise RequestError(
                f"Token id {max(prompt)} is out of vocabulary (the model has {limits.vocab_size} tokens)"
            )
    else:
        raise RequestError("prompt must be a string or a list of token ids")
    if not tokens:
        raise RequestError("prompt must not be empty")
    return tokens


def _message_words(messages: object) -> list[str]:
    """One token per whitespace-separated word of the messages' text."""
    if messages is None:
        raise RequestError("messages is required")
    if not isinstance(messages, list):
        raise RequestError(f"messages must be a list of messages, got {messages!r}")
    if not messages:
        raise RequestError("messages must not be empty")
    words: list[str] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestError(f"{where} must be an object with a role and a content, got {message!r}")
        role = message.get("role")
        if not isinstance(role, str):
            raise RequestError(f"{where}.role must be a string, got {role!r}")
        if "content" not in message:
            raise RequestError(f"{where}.content is required")
        content = message["content"]
        if isinstance(content, str):
            words += content.split()
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                    raise RequestError(
                        f'{where}.content[{j}] must be a text part {{"type": "text", "text": "..."}}, got {part!r}'
                    )
                words += part["text"].split()
        else:
            raise RequestError(f"{where}.content must be a string or a list of text parts, got {content!r}")
    if not words:
        raise RequestError("messages must hold some text: the prompt must not be empty")
    return words


def _integer(fields: dict, key: str, default: int | None, minimum: int | None) -> int | None:
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        rule = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise RequestError(f"{key} must be {rule}, got {value!r}")
    return value


def _boolean(fields: dict, key: str) -> bool:
    value = fields.get(key)
    if value is not None and not isinstance(value, bool):
        raise RequestError(f"{key} must be a boolean, got {value!r}")
    return bool(value)
