"""The Windows service class (pywin32's service framework); Windows only.

Registered by ``upkeep-agent install-service`` (``agent.service.install_windows``), run by
pywin32's ``pythonservice.exe``. The config path is the service's custom option
``config`` (registry: ``HKLM\\SYSTEM\\CurrentControlSet\\Services\\UpkeepAgent\\Parameters``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import servicemanager
import win32event
import win32service
import win32serviceutil

from agent.service import WINDOWS_SERVICE_NAME

if TYPE_CHECKING:
    from agent.runner import AgentService


class AgentWindowsService(win32serviceutil.ServiceFramework):  # pragma: no cover - Windows
    """Runs :class:`agent.runner.AgentService` until the service manager stops it."""

    _svc_name_ = WINDOWS_SERVICE_NAME
    _svc_display_name_ = "Upkeep monitoring agent"

    def __init__(self, args: list[str]) -> None:
        super().__init__(args)
        self.stop_handle = win32event.CreateEvent(None, 0, 0, None)
        self.service: AgentService | None = None

    def SvcStop(self) -> None:  # noqa: N802 - pywin32's name
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
        if self.service is not None:
            self.service.stop_event.set()
        win32event.SetEvent(self.stop_handle)

    def SvcDoRun(self) -> None:  # noqa: N802 - pywin32's name
        from agent.config import load_config, require_collector
        from agent.runner import AgentService

        config = win32serviceutil.GetServiceCustomOption(self._svc_name_, "config")
        cfg = load_config(config)
        require_collector(cfg)
        servicemanager.LogInfoMsg(f"Upkeep agent starting with {config}")
        self.service = service = AgentService(cfg)
        service.start()
        try:
            win32event.WaitForSingleObject(self.stop_handle, win32event.INFINITE)
        finally:
            service.stop()
