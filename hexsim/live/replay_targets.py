"""What the replayer checks before it sends anything: which model the targets serve, and that
the trace's names can travel in HTTP headers; and how it names targets and errors."""

import asyncio
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from hexsim.errors import InputError, ParameterError
from hexsim.live.headers import MAX_NAME
from hexsim.workload.model import Query

CONNECT_TIMEOUT_S = 5.0
MODELS_TIMEOUT_S = 10.0  # wall seconds for a target's answer to GET /v1/models
MAX_MESSAGE = 200  # characters of an error message worth keeping
# Printable ASCII, no space at either end: what an HTTP header carries unchanged.
_HEADER_VALUE = re.compile(r"[!-~]([ -~]*[!-~])?")


def instance_name(url: str) -> str:
    """The `host:port` of a target URL (the port its scheme implies when it names none)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def check_sendable(queries: Sequence[Query], where: str) -> None:
    """Query ids and step names must travel in HTTP headers unchanged; InputError at `where` naming one that cannot."""
    for query in queries:
        names = [("id", query.id)] + [("step", call.step) for call in query.calls]
        for what, name in names:
            if len(name) > MAX_NAME or not _HEADER_VALUE.fullmatch(name):
                raise InputError(
                    where,
                    f"query {query.id!r}: {what} {name!r} cannot be sent in an X-Hexsim header "
                    f"(printable ASCII, at most {MAX_NAME} characters, no space at either end)",
                )


async def served_model(targets: Sequence[str], model: str | None) -> str:
    """The model to ask for: `model`, which every target must serve, else the one model all of them serve.

    ParameterError naming the URL of a target that cannot be reached, is not an OpenAI-compatible
    server or does not serve the model.
    """
    timeout = httpx.Timeout(MODELS_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    async with httpx.AsyncClient(timeout=timeout) as client:
        answers = await asyncio.gather(*(_models(client, url) for url in targets), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    served = dict(zip(targets, answers, strict=True))
    if model is not None:
        for url, names in served.items():
            if model not in names:
                raise ParameterError("model", f"{model!r}: {url} does not serve it (it serves {', '.join(names)})")
        return model
    first, *_ = targets
    for url, names in served.items():
        if not set(names) & set(served[first]):
            raise ParameterError(
                "targets",
                f"{url} serves {', '.join(names)} but {first} serves {', '.join(served[first])}: "
                "the targets must serve one model",
            )
    common = sorted(set.intersection(*(set(names) for names in served.values())))
    if len(common) > 1:
        raise ParameterError("model", f"the targets serve several models ({', '.join(common)}): choose one")
    if not common:
        raise ParameterError("targets", f"no model is served by every target ({', '.join(targets)})")
    return common[0]


async def _models(client: httpx.AsyncClient, url: str) -> list[str]:
    """The ids of the models `url` serves (its `GET /v1/models`)."""
    try:
        response = await client.get(f"{url}/v1/models")
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        raise ParameterError("targets", f"{url}: cannot reach it ({reason(error)})") from None
    except httpx.TimeoutException:
        raise ParameterError("targets", f"{url}: no answer to GET /v1/models within {MODELS_TIMEOUT_S:g} s") from None
    except httpx.HTTPError as error:
        raise ParameterError(
            "targets", f"{url}: not an OpenAI-compatible server (GET /v1/models: {reason(error)})"
        ) from None
    if response.status_code != 200:
        raise ParameterError(
            "targets", f"{url}: not an OpenAI-compatible server (GET /v1/models answered HTTP {response.status_code})"
        )
    try:
        names = [card["id"] for card in response.json()["data"]]
    except (ValueError, KeyError, TypeError):
        names = None
    if not names or not all(isinstance(name, str) for name in names):
        raise ParameterError("targets", f"{url}: not an OpenAI-compatible server (GET /v1/models lists no model)")
    return names


def reason(error: httpx.HTTPError) -> str:
    text = str(error)
    return f"{type(error).__name__}: {shorten(text)}" if text else type(error).__name__


def shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
