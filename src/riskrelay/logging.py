"""Structured JSON logs on stderr, one object per line, with personal data redacted.

Events of interest (a DLQ record, a delivery that failed for good, a breaker transition,
a rebalance, refused credentials) are logged with ``extra=log_fields(name, ...)``: the
line then carries ``"event": name`` and the fields, ``event_id`` among them where an
event is concerned, so one grep follows an event through the logs.

Redaction runs on every line, on the message, the fields and tracebacks alike, because
error texts quote what providers and upstreams sent: fields are redacted by name (e-mail,
phone, IP, names, addresses, card and bank numbers, keys and secrets), and every string
by pattern (e-mail addresses, phone numbers, IP addresses, card numbers that pass the
Luhn check, IBANs, ``name: value`` pairs quoted from JSON or forms, API keys, bearer and
basic credentials). ``RISKRELAY_LOG_PII=true`` keeps personal data in the lines for local
debugging; secrets stay redacted whatever it says.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

REDACTED = "[redacted]"

_SECRET_NAMES = (
    r"api[_-]?key|x-api-key|ds-api-token|secret|token|password|passwd|authorization|"
    r"auth_[a-z_]*|session_key|signature|private_key|credentials?|cookie"
)
_PII_NAMES = (
    r"e-?mail[a-z_]*|[a-z_]*phone[a-z_]*|ip|ip_address|[a-z_]*_ip|"
    r"first_name|last_name|middle_name|full_name|name|[a-z_]*_name|given_name|family_name|"
    r"[a-z_]*address[a-z_]*|street[a-z_0-9]*|city|postal_code|zip|"
    r"card_number|pan|number|account_number|routing_number|iban|bic|swift|"
    r"ssn|tax_id|national_id|date_of_birth|dob|birth_date|wallet[a-z_]*"
)
_SECRET_KEY = re.compile(rf"^(?:{_SECRET_NAMES})$", re.IGNORECASE)
_PII_KEY = re.compile(rf"^(?:{_PII_NAMES})$", re.IGNORECASE)
# Field names whose values are never personal data, even if a pattern above matched.
_SAFE_KEYS = frozenset({"logger", "provider_name", "topic_name", "event", "level", "ts"})


def _pair(names: str) -> re.Pattern[str]:
    """``name: value`` / ``name=value`` as JSON, Python reprs and forms quote them."""
    return re.compile(
        rf"""(?P<key>["']?\b(?:{names})\b["']?\s*[:=]\s*)"""
        # An object or list value is left alone: the pairs inside it match themselves.
        r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;&{}\[\]()"']+)""",
        re.IGNORECASE,
    )


_SECRET_PAIR = _pair(_SECRET_NAMES)
_PII_PAIR = _pair(_PII_NAMES)
_SECRET_PATTERNS = (
    re.compile(r"\b(?:Bearer|Basic)\s+[A-Za-z0-9+/=._~-]{8,}", re.IGNORECASE),
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}\b"),
    re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*"),  # JWT
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b")
_IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?"
    r"|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)(?![\w:])"
)
_PHONE = re.compile(
    r"(?<![\w+])\+\d[\d ().-]{6,18}\d(?!\w)"  # international: +44 20 7946 0958
    r"|(?<!\w)\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\w)"  # (555) 123-4567, 555.123.4567
)
_DIGIT_RUN = re.compile(r"(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return REDACTED if 13 <= len(digits) <= 19 and _luhn(digits) else match.group()


def _redact_pair(match: re.Match[str]) -> str:
    return f"{match.group('key')}{REDACTED}"


class Redactor:
    """Removes secrets always and personal data unless ``keep_pii``."""

    def __init__(self, keep_pii: bool = False) -> None:
        self.keep_pii = keep_pii
        steps: list[Callable[[str], str]] = [
            lambda s: _SECRET_PAIR.sub(_redact_pair, s),
            *(lambda s, p=p: p.sub(REDACTED, s) for p in _SECRET_PATTERNS),
        ]
        if not keep_pii:
            steps += [
                lambda s: _PII_PAIR.sub(_redact_pair, s),
                lambda s: _EMAIL.sub(REDACTED, s),
                lambda s: _IBAN.sub(REDACTED, s),
                lambda s: _DIGIT_RUN.sub(_card, s),
                lambda s: _PHONE.sub(REDACTED, s),
                lambda s: _IPV6.sub(REDACTED, s),
                lambda s: _IPV4.sub(REDACTED, s),
            ]
        self._steps = steps

    def text(self, value: str) -> str:
        for step in self._steps:
            value = step(value)
        return value

    def sensitive_key(self, key: str) -> bool:
        if key in _SAFE_KEYS:
            return False
        return bool(_SECRET_KEY.match(key)) or (not self.keep_pii and bool(_PII_KEY.match(key)))

    def value(self, value: Any, key: str = "") -> Any:
        if key and self.sensitive_key(key):
            return None if value is None else REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {str(k): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))


def log_fields(event: str, **fields: Any) -> dict[str, Any]:
    """``extra=`` for a line reporting one event of interest: ``event`` names what
    happened; the fields go into the JSON object (redacted like everything else)."""
    return {"riskrelay_fields": {"event": event, **fields}}


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        redact = self.redactor
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact.text(record.getMessage()),
        }
        fields = getattr(record, "riskrelay_fields", None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                if key not in entry:
                    entry[key] = redact.value(value, key)
        if record.exc_info:
            entry["exc"] = redact.text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: int | str | None = None, keep_pii: bool | None = None) -> None:
    """JSON lines on stderr for the whole process. ``level`` and ``keep_pii`` default to
    ``RISKRELAY_LOG_LEVEL`` and ``RISKRELAY_LOG_PII``."""
    from riskrelay.settings import LogSettings

    settings = LogSettings()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(Redactor(settings.pii if keep_pii is None else keep_pii)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper() if level is None else level)
    # The registry client logs every HTTP request at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
