"""One call through the gateway, as an ASGI response: wait for the core's admission, send the
call to its engine, relay the answer as it comes (a stream chunk by chunk, untouched), and
tell the gateway how it went: started (first bytes of the answer), finished, or failed.

An engine that cannot be reached, answers 5xx or breaks off before anything was relayed gets
the call placed again elsewhere; the answer's `x-hexsim-retries` says how many times. A stream
that breaks off once relaying has begun ends with an error event: nothing is sent twice.

A client that goes away at any point ends the exchange. Before admission the call is released
as soon as the core admits it; after, the request to the engine is closed, and vLLM aborts a
request whose connection closes.
"""

import asyncio
import time

import aiohttp

from hexsim.live.engines import HTTP_ERRORS
from hexsim.live.gateway import Gateway, GatewayCall
from hexsim.live.headers import INSTANCE, RETRIES
from hexsim.live.openai_errors import error_body
from hexsim.scheduler.events import Admit, Fail

DROPPED_HEADERS = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"te",
    b"trailer",
    b"upgrade",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"content-length",
    b"date",
    b"server",
}
GONE = "the client went away"
INSTANCE_HEADER, RETRIES_HEADER = INSTANCE.encode(), RETRIES.encode()


class CallExchange:
    def __init__(self, gateway: Gateway, call: GatewayCall, path: str, headers: dict[str, str]):
        self.gateway = gateway
        self.call = call
        self.path = path
        self.headers = headers
        self.ended = False

    async def __call__(self, scope, receive, send) -> None:
        work = asyncio.ensure_future(self._exchange(send))
        gone = asyncio.ensure_future(_client_gone(receive))
        try:
            await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            work.cancel()
            gone.cancel()
            results = await asyncio.gather(work, gone, return_exceptions=True)
            if not self.ended:
                self._end_gone()
        error = results[0]
        if isinstance(error, Exception):
            raise error

    async def _exchange(self, send) -> None:
        call, gateway = self.call, self.gateway
        while True:
            try:
                decision = await _decided(call.decision, call.opened + gateway.settings.place_timeout)
            except TimeoutError:
                self._end(gateway.give_up, call, "unplaced")
                waited = gateway.settings.place_timeout
                message = f"no engine could take the call within {waited:g} s"
                await _send_error(send, 503, message, gateway.settings.retry_after)
                return
            if not isinstance(decision, Admit):
                self._end(gateway.refused, call)
                await _send_error(send, 400, f"the call can never run: {decision.reason}")
                return
            engine = gateway.sending(call, decision)
            try:
                upstream = await engine.post(self.path, gateway.content(call, decision), self.headers)
            except HTTP_ERRORS as error:
                if self._retry(f"engine {engine.name} did not answer: {_describe(error)}"):
                    continue
                await _send_error(send, 502, f"engine {engine.name} ({engine.url}) did not answer: {_describe(error)}")
                return
            try:
                if await self._relay(upstream, send, engine.name):
                    continue
                return
            finally:
                # Back to the pool if the answer was read to its end; else the connection closes, and vLLM
                # aborts a request whose connection closes.
                upstream.release()

    def _retry(self, reason: str) -> bool:
        """Place the call again (True), or fail it for good (False)."""
        if self.gateway.retry(self.call, reason):
            return True
        self._end(self.gateway.failed, self.call, reason)
        return False

    async def _retry_or_fail(self, send, reason: str) -> bool:
        """Nothing reached the client: place the call again (True), or answer 502 (False)."""
        if self._retry(reason):
            return True
        await _send_error(send, 502, reason)
        return False

    async def _relay(self, upstream: aiohttp.ClientResponse, send, instance: str) -> bool:
        """Relay the engine's answer; True if nothing was relayed and the call is to be placed again."""
        call, gateway = self.call, self.gateway
        headers = [(k, v) for k, v in upstream.raw_headers if k.lower() not in DROPPED_HEADERS]
        headers.append((INSTANCE_HEADER, instance.encode()))
        headers.append((RETRIES_HEADER, b"%d" % call.retries))
        if upstream.status != 200 or not call.body.stream:
            try:
                body = await upstream.read()
            except HTTP_ERRORS as error:
                return await self._retry_or_fail(send, f"engine {instance} broke off its answer: {_describe(error)}")
            if upstream.status >= 500:
                reason = f"engine {instance} answered {upstream.status}"
                if self._retry(reason):
                    return True
            elif upstream.status == 200:
                self._end(gateway.finished, call)
            else:
                self._end(gateway.failed, call, f"engine {instance} answered {upstream.status}")
            headers.append((b"content-length", b"%d" % len(body)))
            await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return False
        chunks = upstream.content.iter_any()
        try:  # nothing goes to the client before the engine's first bytes: until then the call can move
            first = await anext(chunks, b"")
        except HTTP_ERRORS as error:
            return await self._retry_or_fail(send, f"engine {instance} broke off its stream: {_describe(error)}")
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            gateway.started(call)
            await send({"type": "http.response.body", "body": first, "more_body": True})
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except HTTP_ERRORS as error:
            reason = f"engine {instance} broke off its stream: {_describe(error)}"
            gateway.engine_failed(call.engine, reason)
            self._end(gateway.failed, call, reason, "broken")
            event = b"data: %s\n\n" % error_body(reason, 502)
            await send({"type": "http.response.body", "body": event, "more_body": True})
        else:
            self._end(gateway.finished, call)
        await send({"type": "http.response.body", "body": b""})
        return False

    def _end(self, how, *args) -> None:
        self.ended = True
        how(*args)

    def _end_gone(self) -> None:
        self.ended = True
        call = self.call
        if call.engine is not None:
            self.gateway.failed(call, GONE, "abandoned")
        elif call.decision.done() and isinstance(call.decision.result(), Fail):
            self.gateway.refused(call)
        else:
            self.gateway.give_up(call, "abandoned")


async def _decided(decision: asyncio.Future, deadline: float) -> Admit | Fail:
    """The core's decision on a call, waiting for it until `deadline` (monotonic) if it is not made yet."""
    if decision.done():
        return decision.result()
    return await asyncio.wait_for(asyncio.shield(decision), max(deadline - time.monotonic(), 0.0))


async def _client_gone(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_error(send, status: int, message: str, retry_after: int | None = None) -> None:
    body = error_body(message, status)
    headers = [(b"content-type", b"application/json")]
    if retry_after is not None:
        headers.append((b"retry-after", b"%d" % retry_after))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0]
