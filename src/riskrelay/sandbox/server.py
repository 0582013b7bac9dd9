"""The sandbox framework: app factory, in-process starters and the ``riskrelay sandbox`` runner.

A provider sandbox is a module ``riskrelay.sandbox.<provider>`` exposing
``create_app(config: SandboxConfig) -> web.Application``, which builds its routes and
hands them to ``build_sandbox_app``. That mounts what every sandbox shares: the recorder,
fault injection and the ``/_sandbox/`` control API. A provider is "implemented" as soon
as its module exists, so adding one needs no change here.

Three ways to run one:

- ``await start_sandbox("unit21", "127.0.0.1", 0, config)`` in a running loop → handle;
- ``SandboxThread("unit21").start()`` from synchronous code (pytest fixtures);
- ``run_sandboxes([...], host, port)``: the blocking CLI runner (uvloop when installed),
  which stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self, cast

import orjson
import pydantic
from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from riskrelay._loop_thread import LoopThread
from riskrelay.errors import ConfigError
from riskrelay.sandbox.faults import FaultConfig, FaultInjector
from riskrelay.sandbox.recorder import CREDENTIAL_HEADERS, EVENTS_KEY, Recorder
from riskrelay.settings import PROVIDERS, ProviderName, load_settings

CONTROL_PREFIX = "/_sandbox/"
DEFAULT_PORTS: Mapping[str, int] = MappingProxyType(
    {"coinflow": 8090, "unit21": 8091, "dataspike": 8092, "stripe": 8093}
)
ErrorBody = Callable[[int, str], Any]
AppFactory = Callable[["SandboxConfig"], web.Application]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_BODY_HEADERS = frozenset({hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH})


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Start-up settings shared by every provider sandbox.

    ``api_key=None`` means the provider's documented sandbox default;
    ``rate_limit_per_s=None`` the provider's documented limit, ``0`` no limit.
    """

    api_key: str | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    max_recorded: int | None = 100_000
    processing_delay_s: float = 1.0
    rate_limit_per_s: int | None = None


@dataclass(slots=True)
class SandboxState:
    """Everything a sandbox app shares with the control API and its handle."""

    provider: str
    recorder: Recorder
    faults: FaultInjector
    on_reset: Callable[[], None] | None = None

    def reset(self) -> None:
        """Forget recordings, faults and provider state (stored events, keys...)."""
        self.recorder.clear()
        self.faults.clear()
        if self.on_reset is not None:
            self.on_reset()


STATE_KEY = web.AppKey("riskrelay.sandbox.state", SandboxState)


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response serialized with orjson (the sandboxes' only response shape)."""
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def default_error_body(status: int, message: str) -> Any:
    """Error shape for providers that document none."""
    return {"error": message, "status": status}


def _sandbox_middleware(
    recorder: Recorder, injector: FaultInjector, error_body: ErrorBody
) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            return await handler(request)
        received_at = time.time()
        response: web.StreamResponse
        try:
            fault = await injector.apply() if injector.applies_to(path) else None
            if fault is None:
                response = await handler(request)
            else:
                headers: dict[str, str] = {"X-Sandbox-Fault": fault.kind}
                if fault.retry_after_s is not None:
                    headers["Retry-After"] = str(fault.retry_after_s)
                message = f"sandbox fault: {fault.kind}"
                response = json_response(error_body(fault.status, message), fault.status, headers)
        except web.HTTPException as exc:  # no route, wrong method, body too large
            kept = {k: v for k, v in exc.headers.items() if k not in _BODY_HEADERS}
            response = json_response(error_body(exc.status, exc.reason), exc.status, kept)
        except Exception:
            recorder.add(request, _route(request), b"", 500, b"", received_at)
            raise
        try:
            body = await request.read()
        except web.HTTPException:
            body = b""
        sent = response.body if isinstance(response, web.Response) else None
        sent = sent if isinstance(sent, bytes) else b""
        events = request.get(EVENTS_KEY, 1)
        recorder.add(request, _route(request), body, response.status, sent, received_at, events)
        return response

    return middleware


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


async def _health(request: web.Request) -> web.Response:
    return json_response({"provider": request.app[STATE_KEY].provider, "status": "ok"})


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return json_response({"reset": True})


def build_sandbox_app(
    provider: str,
    config: SandboxConfig,
    routes: Iterable[web.RouteDef],
    *,
    credential_headers: Iterable[str] = CREDENTIAL_HEADERS,
    error_body: ErrorBody = default_error_body,
    middlewares: Iterable[Middleware] = (),
    on_reset: Callable[[], None] | None = None,
    client_max_size: int = 8 * 1024 * 1024,
) -> web.Application:
    """A provider's routes with the shared recorder, faults and control API mounted.

    ``error_body(status, message)`` shapes injected faults and unmatched routes like the
    provider's own errors; ``middlewares`` run inside the shared one (after faults), and
    must let ``CONTROL_PREFIX`` paths through untouched.
    """
    recorder = Recorder(config.max_recorded, frozenset(credential_headers))
    injector = FaultInjector(config.faults)
    app = web.Application(
        middlewares=[_sandbox_middleware(recorder, injector, error_body), *middlewares],
        client_max_size=client_max_size,
    )
    app[STATE_KEY] = SandboxState(provider, recorder, injector, on_reset)
    app.add_routes([*recorder.routes(), *injector.routes(), *routes])
    app.add_routes([web.get("/_sandbox/health", _health), web.post("/_sandbox/reset", _reset)])
    return app


def available_providers() -> list[str]:
    """Providers whose sandbox module exists, in the canonical order."""
    return [name for name in PROVIDERS if importlib.util.find_spec(f"{__package__}.{name}")]


def load_factory(provider: str) -> AppFactory:
    """The provider module's ``create_app``; a clear ``ConfigError`` for unknown names."""
    if provider not in DEFAULT_PORTS:
        known = ", ".join(DEFAULT_PORTS)
        raise ConfigError(f"unknown sandbox provider {provider!r} (known: {known})")
    available = available_providers()
    if provider not in available:
        raise ConfigError(
            f"no sandbox for {provider!r} yet (available: {', '.join(available) or 'none'})"
        )
    module = importlib.import_module(f"{__package__}.{provider}")
    return cast(AppFactory, module.create_app)


class SandboxHandle:
    """A sandbox serving in the current event loop; ``await stop()`` frees its port."""

    def __init__(self, provider: str, runner: web.AppRunner, host: str, port: int) -> None:
        self.provider = provider
        self.runner = runner
        self.host = host
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"
        self.state = runner.app[STATE_KEY]
        self.recorder = self.state.recorder
        self.faults = self.state.faults

    def reset(self) -> None:
        self.state.reset()

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(
    provider: str, host: str = "127.0.0.1", port: int = 0, config: SandboxConfig | None = None
) -> SandboxHandle:
    """Serve ``provider`` on ``host:port`` (``0`` picks a free port) in the running loop."""
    app = load_factory(provider)(config or SandboxConfig())
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"{provider} sandbox cannot listen on {host}:{port}: {reason}") from exc
    bound = runner.addresses[0][1] if port == 0 else port
    return SandboxHandle(provider, runner, host, int(bound))


class SandboxThread(LoopThread[SandboxHandle]):
    """A sandbox on its own event loop thread, for synchronous callers such as pytest::

    with SandboxThread("unit21", config=SandboxConfig(processing_delay_s=0)) as box:
        httpx.post(f"{box.base_url}/v1/events/create", ...)
        assert box.requests()[0]["status"] == 200

    :meth:`call` runs a function against the handle on the loop thread (its state is not
    thread-safe); the helpers below go through it.
    """

    def __init__(
        self,
        provider: str,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SandboxConfig | None = None,
    ) -> None:
        super().__init__(
            lambda: start_sandbox(provider, host, port, config), SandboxHandle.stop, name="sandbox"
        )

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    @property
    def port(self) -> int:
        return self.handle.port

    def start(self, timeout_s: float = 30.0) -> Self:
        return super().start(timeout_s)

    def requests(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Recorded requests, as ``GET /_sandbox/requests`` returns them."""
        return self.call(lambda h: h.recorder.requests(since, limit))

    def stats(self) -> dict[str, Any]:
        return self.call(lambda h: h.recorder.stats())

    def set_faults(self, faults: FaultConfig | Mapping[str, Any]) -> dict[str, Any]:
        config = faults if isinstance(faults, FaultConfig) else FaultConfig.model_validate(faults)

        def apply(handle: SandboxHandle) -> dict[str, Any]:
            handle.faults.configure(config)
            return handle.faults.describe()

        return self.call(apply)

    def clear_faults(self) -> None:
        self.call(lambda h: h.faults.clear())

    def reset(self) -> None:
        self.call(lambda h: h.reset())


class SandboxSettings(BaseSettings):
    """``RISKRELAY_SANDBOX_*``: how the CLI runner configures every sandbox it serves.

    ``FAULTS`` is fault-config JSON; a provider's accepted key is its usual
    ``RISKRELAY_<PROVIDER>_API_KEY`` when set, so the pipeline's own settings just work.
    """

    model_config = SettingsConfigDict(env_prefix="RISKRELAY_SANDBOX_", frozen=True, extra="ignore")

    processing_delay_s: float = pydantic.Field(default=1.0, ge=0)
    max_recorded: int | None = pydantic.Field(default=100_000, ge=1)
    rate_limit_per_s: int | None = pydantic.Field(default=None, ge=0)
    faults: FaultConfig = pydantic.Field(default_factory=FaultConfig)


def _configs_from_env(providers: Iterable[str]) -> dict[str, SandboxConfig]:
    try:
        sandbox = SandboxSettings()
        settings = load_settings()
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"bad sandbox settings: {where}: {first['msg']}") from exc
    except SettingsError as exc:  # e.g. RISKRELAY_SANDBOX_FAULTS is not JSON
        raise ConfigError(f"bad sandbox settings: {exc}") from exc
    configs = {}
    for name in providers:
        key = settings.providers.get(cast(ProviderName, name)).api_key
        configs[name] = SandboxConfig(
            api_key=key.get_secret_value() if key is not None else None,
            faults=sandbox.faults,
            max_recorded=sandbox.max_recorded,
            processing_delay_s=sandbox.processing_delay_s,
            rate_limit_per_s=sandbox.rate_limit_per_s,
        )
    return configs


def run_sandboxes(providers: list[str], host: str, port: int | None) -> None:
    """Serve each provider on its own port until SIGINT/SIGTERM; empty list = all."""
    names = list(dict.fromkeys(providers)) or available_providers()
    for name in names:
        load_factory(name)  # unknown or unimplemented names fail before anything binds
    if port is not None and len(names) != 1:
        raise ConfigError(f"--port needs exactly one provider, got {len(names)}")
    configs = _configs_from_env(names)
    ports = {name: port if port is not None else DEFAULT_PORTS[name] for name in names}
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(host, ports, configs))


async def _serve(host: str, ports: Mapping[str, int], configs: Mapping[str, SandboxConfig]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    handles: list[SandboxHandle] = []
    try:
        for name, port in ports.items():
            handle = await start_sandbox(name, host, port, configs[name])
            handles.append(handle)
            print(f"{name} sandbox: {handle.base_url}", flush=True)
        await stop.wait()
    finally:
        for handle in handles:
            await handle.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return cast(Callable[[], asyncio.AbstractEventLoop], uvloop.new_event_loop)
