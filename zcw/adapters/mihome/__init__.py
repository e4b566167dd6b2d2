"""Mi Home / XiaoAI triggers: a proxy Wi-Fi plug polled on the LAN, and a Bemfa cloud switch.

- ``machine``: the pure rules (edges, zcw's own switching, start-up, mirror); no I/O.
- ``miio_client``: one request to a plug over the miIO protocol (python-miio's codec); the
  only module that imports python-miio, and only the composition root imports it.
- ``worker``: one thread per plug, so no miIO call ever runs in the event loop.
- ``plug``: the poll loop of one plug (timeouts, backoff, faults) around the three above.
- ``bemfa``: the MQTT session to Bemfa's cloud.
"""
