"""Runs sushy-tools' Redfish emulator with the fake driver, completed where tests need it.

Run as ``python -m metalstream.devstack.sushy_launcher --config <emulator.conf>``; it accepts the
same arguments as ``sushy-emulator`` and then calls ``sushy_tools.emulator.main.main()``. Before
that it adds, at runtime and without touching the installed package:

* inventory: the fake driver has no ``get_total_cpus``, ``get_total_memory``, ``get_processors``,
  ``get_simple_storage_collection`` or ``get_versions``, so its systems have no ``Processors``
  link, no memory size and no BIOS version, and Ironic's Redfish inspection fails. They are
  filled from optional keys of each fake system: ``cpus``, ``cpu_model``, ``cpu_vendor``,
  ``memory_gb``, ``disk_gb``, ``bios_version``;
* power delay: the fake driver applies a power change ``random.randint(1, 11)`` seconds after the
  request. ``METALSTREAM_POWER_DELAY = (lo, hi)`` in the config narrows that range (``(0, 0)``
  makes changes visible on the next read);
* boot override frequency: the emulator accepts ``BootSourceOverrideEnabled`` but always reports
  ``Continuous``. The value a client sets is remembered per system and reported back;
* a free port: ``SUSHY_EMULATOR_LISTEN_PORT = 0`` binds an ephemeral port, and the bound port is
  written to the file named by ``METALSTREAM_PORT_FILE`` once the socket listens, so a harness
  learns the port without racing for it;
* no orphans: with ``METALSTREAM_EXIT_WITH_PARENT=1`` in the environment the process exits when
  its stdin closes, which happens when the harness process ends, even by SIGKILL.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from metalstream.devstack.orphans import EXIT_WITH_PARENT_ENV, exit_with_parent

_GIB: Final = 1024**3
_SYSTEM_PATH: Final = re.compile(r"^/redfish/v1/Systems/([^/]+)/?$")
_ENABLED_VALUES: Final = frozenset({"Once", "Continuous", "Disabled"})


def _install_inventory(fake_driver: Any) -> None:
    def system(self: Any, identity: str) -> dict[str, Any]:
        found: dict[str, Any] = self._get(identity)
        return found

    def get_total_cpus(self: Any, identity: str) -> int:
        return int(system(self, identity).get("cpus", 4))

    def get_total_memory(self: Any, identity: str) -> int:
        return int(system(self, identity).get("memory_gb", 16))

    def get_processors(self: Any, identity: str) -> list[dict[str, Any]]:
        found = system(self, identity)
        count = int(found.get("cpus", 4))
        return [
            {
                "id": "CPU0",
                "Id": "CPU0",
                "socket": "CPU 0",
                "model": found.get("cpu_model", "Fake CPU @ 2.40GHz"),
                "vendor": found.get("cpu_vendor", "GenuineIntel"),
                "cores": count,
                "threads": count,
            }
        ]

    def get_simple_storage_collection(self: Any, identity: str) -> dict[str, Any]:
        size = int(system(self, identity).get("disk_gb", 100)) * _GIB
        return {
            "sata": {"Id": "sata", "Name": "sata", "DeviceList": [{"Name": "disk0", "CapacityBytes": size}]}
        }

    def get_versions(self: Any, identity: str) -> dict[str, str]:
        return {"BiosVersion": str(system(self, identity).get("bios_version", "1.0.0"))}

    fake_driver.get_total_cpus = get_total_cpus
    fake_driver.get_total_memory = get_total_memory
    fake_driver.get_processors = get_processors
    fake_driver.get_simple_storage_collection = get_simple_storage_collection
    fake_driver.get_versions = get_versions


def _install_power_delay(fakedriver_module: Any, delay: Sequence[int]) -> None:
    low, high = int(delay[0]), int(delay[1])
    fakedriver_module.random = types.SimpleNamespace(randint=lambda _a, _b: random.randint(low, high))


def _install_boot_override_memory(app: Any) -> None:
    import flask

    @app.before_request  # type: ignore[untyped-decorator]
    def remember_override_frequency() -> None:
        request = flask.request
        match = _SYSTEM_PATH.match(request.path)
        if request.method != "PATCH" or match is None:
            return
        body = request.get_json(silent=True) or {}
        enabled = (body.get("Boot") or {}).get("BootSourceOverrideEnabled")
        if enabled in _ENABLED_VALUES:
            uuid = app.systems.uuid(match.group(1))
            app.systems._update(uuid, boot_override_enabled=enabled)

    @app.after_request  # type: ignore[untyped-decorator]
    def report_override_frequency(response: Any) -> Any:
        match = _SYSTEM_PATH.match(flask.request.path)
        if flask.request.method != "GET" or match is None or response.status_code != 200:
            return response
        try:
            uuid = app.systems.uuid(match.group(1))
            enabled = app.systems._get(uuid).get("boot_override_enabled")
        except Exception:  # noqa: BLE001 - the original response stands if the system vanished
            return response
        if enabled:
            body = json.loads(response.get_data())
            body.setdefault("Boot", {})["BootSourceOverrideEnabled"] = enabled
            response.set_data(json.dumps(body))
        return response


def _install_port_reporting(app: Any) -> None:
    from werkzeug.serving import make_server

    def run(host: str | None = None, port: int | None = None, ssl_context: Any = None, **_: Any) -> None:
        server = make_server(host or "127.0.0.1", port or 0, app, threaded=True, ssl_context=ssl_context)
        port_file = app.config.get("METALSTREAM_PORT_FILE")
        if port_file:
            tmp = Path(f"{port_file}.tmp")
            tmp.write_text(str(server.port))
            tmp.replace(port_file)
        server.serve_forever()

    app.run = run


def main(argv: Sequence[str] | None = None) -> int:
    from sushy_tools.emulator import main as emulator
    from sushy_tools.emulator.resources.systems import fakedriver

    if os.environ.get(EXIT_WITH_PARENT_ENV) == "1":
        exit_with_parent()
    args = list(sys.argv[1:] if argv is None else argv)
    config_file = _config_path(args)
    if config_file is not None:
        emulator.app.config.from_pyfile(os.path.abspath(config_file))
    delay = emulator.app.config.get("METALSTREAM_POWER_DELAY")
    if delay is not None:
        _install_power_delay(fakedriver, delay)
    _install_inventory(fakedriver.FakeDriver)
    _install_boot_override_memory(emulator.app)
    _install_port_reporting(emulator.app)
    sys.argv = ["sushy-emulator", *args]
    result: int = emulator.main()
    return result


def _config_path(args: Sequence[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--config="):
            return arg.partition("=")[2]
    return os.environ.get("SUSHY_EMULATOR_CONFIG")


if __name__ == "__main__":
    sys.exit(main())
