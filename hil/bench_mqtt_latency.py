"""Latency from an MQTT command to the relay command written to the bridge.

Usage: ``python -m hil.bench_mqtt_latency [N]``. Starts a throwaway mosquitto on loopback, a
simulated daemon ticking in real time, and publishes N ``start``/``stop`` pairs; for each
``start`` it measures the time until the daemon hands the valve-ON command to the bridge.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hil.bench_stats import summary_ms
from zcw.adapters.mqtt_client import MqttSettings
from zcw.adapters.mqtt_payloads import Topics
from zcw.app.mqtt_bridge import MqttBridge
from zcw.app.sim import build_sim
from zcw.config import parse_config
from zcw.ports import RelayCommand
from zcw.testing.broker import Broker


def main(n: int = 200) -> None:
    from importlib import resources

    from zcw.testing.live import LiveSim

    data = tomllib.loads(resources.files("zcw").joinpath("default.toml").read_text())
    data["control"]["min_rest_s"] = 0  # back-to-back cycles for the measurement
    cfg = parse_config(data)
    rig = build_sim(cfg)
    valve_channel = 1
    on_at: list[float] = []
    relay_on = threading.Event()
    real_apply = rig.hardware.apply

    def apply(command: RelayCommand) -> None:
        if command.channels.get(valve_channel) and not relay_on.is_set():
            on_at.append(time.perf_counter())
            relay_on.set()
        real_apply(command)

    rig.hardware.apply = apply  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp, Broker(Path(tmp)) as broker:
        bridge = MqttBridge(
            rig.daemon, MqttSettings("127.0.0.1", broker.port), Topics(), device_id="zcw_bench"
        )
        with LiveSim(rig, speed=1.0) as sim:
            sim.spawn(bridge.run(), close=bridge.close)
            sim.wait_for(lambda: bridge.link.connected, 10, "MQTT connection")
            time.sleep(2.0)  # first sensor readings
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench"
            )
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            latencies: list[float] = []
            for _ in range(n):
                relay_on.clear()
                sent = time.perf_counter()
                client.publish("zcw/set", "start", qos=0)
                if not relay_on.wait(2.0):
                    raise SystemExit("no relay command within 2 s")
                latencies.append((on_at[-1] - sent) * 1000.0)
                client.publish("zcw/set", "stop", qos=0)
                time.sleep(0.8)  # pump-first stop and valve lag complete
            client.loop_stop()
            client.disconnect()
    print(f"MQTT command → relay command, {n} commands on loopback:")
    print(summary_ms(latencies))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
