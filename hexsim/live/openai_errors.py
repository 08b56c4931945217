"""Errors in OpenAI's shape, as vLLM's server and hexsim's gateway answer them."""

from starlette.responses import JSONResponse

ERROR_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    413: "RequestTooLargeError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}


def error_response(message: str, status: int) -> JSONResponse:
    """`{"error": {"message", "type", "param", "code"}}` with `status`; `code` is the status, as vLLM sets it."""
    kind = ERROR_TYPES.get(status, "BadRequestError" if status < 500 else "InternalServerError")
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": status}}, status_code=status
    )
