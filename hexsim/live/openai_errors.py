"""Errors in OpenAI's shape, as vLLM's server and hexsim's gateway answer them."""

import json

from starlette.responses import JSONResponse

ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    413: "RequestTooLargeError",
    429: "RateLimitError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
}


def error_payload(message: str, status: int) -> dict:
    """`{"error": {"message", "type", "param", "code"}}`; `code` is the HTTP status, as vLLM sets it."""
    kind = ERROR_TYPES.get(status, "BadRequestError" if status < 500 else "InternalServerError")
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def error_body(message: str, status: int) -> bytes:
    return json.dumps(error_payload(message, status)).encode()


def error_response(message: str, status: int, retry_after: int | None = None) -> JSONResponse:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else None
    return JSONResponse(error_payload(message, status), status_code=status, headers=headers)
