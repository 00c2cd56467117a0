"""A timer-driven source (the fork's examples/python/source.py, for ulogd-rs).

Every `interval` seconds it emits one event with a counter and the time; with
`count` set it stops after that many events (spi.finish(), a ulogd-rs extension).

    stack=src:PYTHON,out:PYTHON
    [src]
    module="source"
    path_append="examples/python"
    interval="1"
    count="0"
"""
import time

import ulogd

CONFIG = globals().get("ULOGD_CONFIG", {})
INTERVAL = float(CONFIG.get("interval", "1"))
COUNT = int(CONFIG.get("count", "0"))

state = {}


def configure(okeys):
    okeys.type = ulogd.ULOGD_DTYPE_RAW
    okeys.add(ulogd.Keyinfo(name="counter.value", type=ulogd.ULOGD_RET_UINT64))
    okeys.add(ulogd.Keyinfo(name="counter.time", type=ulogd.ULOGD_RET_UINT32))
    okeys.add(ulogd.Keyinfo(name="counter.label", type=ulogd.ULOGD_RET_STRING))
    return 0


def tick(timer, data):
    spi = data
    state["n"] += 1
    okset = spi.get_output_keyset()
    okset["counter.value"].value = state["n"]
    okset["counter.time"].value = int(time.time())
    okset["counter.label"].value = "tick %d" % state["n"]
    okset.propagate_results()
    if COUNT and state["n"] >= COUNT:
        spi.finish()
    else:
        timer.add(INTERVAL)


def start(spi):
    state["n"] = 0
    state["timer"] = ulogd.Timer(tick, spi)
    state["timer"].add(INTERVAL)
    return 0


def stop():
    return 0


def signal(signo):
    return 0
