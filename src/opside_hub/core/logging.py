"""Structured logging with redaction of every secret-looking value.

All log records, ours and third-party (uvicorn, SQLAlchemy, SAQ, httpx), flow through structlog's
processor chain, and the last processor before rendering is `redact`. It masks by key name
(token, secret, password, code, authorization, cookie, ...) and by value shape (bearer tokens,
JWTs, provider token prefixes, credentials in query strings), so even a careless
`log.info("got", body=response.text)` cannot leak a token.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

MASK = "***"

_SECRET_KEY = re.compile(
    r"(token|secret|password|passwd|authorization|cookie|api[_-]?key|signature|"
    r"^code$|_code$|verifier|^state$|credential|private)",
    re.IGNORECASE,
)
_SECRET_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers and bearer tokens.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    # JWTs (three base64url segments, the first starting with eyJ).
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), MASK),
    # Amazon LWA, Google, Stripe, sandbox token shapes.
    (re.compile(r"\bAtz[ar]\|[A-Za-z0-9._~+/=|-]+"), MASK),
    (re.compile(r"\bya29\.[A-Za-z0-9._~+/=-]+"), MASK),
    (re.compile(r"\b1//[A-Za-z0-9._~+/=-]+"), MASK),
    (re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]+"), MASK),
    (re.compile(r"\b(whsec|ac|sbx)_[A-Za-z0-9_-]{8,}"), MASK),
    # Credentials carried in query strings or form bodies.
    (
        re.compile(
            r"(?i)\b((?:access_|refresh_|id_)?token|code|state|client_secret|code_verifier|"
            r"spapi_oauth_code|password|key)=([^&\s\"']+)"
        ),
        r"\1=" + MASK,
    ),
    # Credentials in URLs (scheme://user:password@host).
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@"), r"\1" + MASK + "@"),
)


def redact_text(value: str) -> str:
    for pattern, replacement in _SECRET_VALUE_PATTERNS:
        value = pattern.sub(replacement, value)
    return value


def redact_value(key: str, value: Any) -> Any:
    # Numbers are never credentials: `status_code=429` and `token_count=3` stay readable.
    if (
        _SECRET_KEY.search(key)
        and value not in (None, "", [], {})
        and not isinstance(value, int | float)
    ):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, item) for item in value]
    if isinstance(value, BaseException):
        return redact_text(repr(value))
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    for key in list(event_dict):
        if key == "event" and isinstance(event_dict[key], str):
            event_dict[key] = redact_text(event_dict[key])
        elif key != "event":
            event_dict[key] = redact_value(key, event_dict[key])
    return event_dict


def _drop_noise(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    event_dict.pop("color_message", None)  # uvicorn's ANSI duplicate of the message
    return event_dict


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _drop_noise,
        redact,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "saq"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # httpx logs every request URL at INFO; URLs can carry codes, so keep it at WARNING.
    for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # SAQ logs every cron tick and job at INFO; our jobs log what matters themselves.
    logging.getLogger("saq").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
