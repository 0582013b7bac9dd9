"""What an adapter asks the HTTP layer to send, and what came back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    method: str
    path: str
    json: Any = None
    form: list[tuple[str, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    status: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Attempt:
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None

    def as_record(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "status_code": self.status_code,
            "error": self.error,
        }
