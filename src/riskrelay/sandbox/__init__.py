"""Provider sandboxes: strict HTTP fakes of each provider, with recordings and faults.

Start one in-process with ``start_sandbox`` (async) or ``SandboxThread`` (sync), or from
the shell with ``riskrelay sandbox``. ``server`` explains how to add a provider.
"""

from riskrelay.sandbox.faults import FaultConfig, FaultInjector
from riskrelay.sandbox.recorder import Recorder
from riskrelay.sandbox.server import (
    DEFAULT_PORTS,
    SandboxConfig,
    SandboxHandle,
    SandboxThread,
    available_providers,
    build_sandbox_app,
    run_sandboxes,
    start_sandbox,
)

__all__ = [
    "DEFAULT_PORTS",
    "FaultConfig",
    "FaultInjector",
    "Recorder",
    "SandboxConfig",
    "SandboxHandle",
    "SandboxThread",
    "available_providers",
    "build_sandbox_app",
    "run_sandboxes",
    "start_sandbox",
]
