"""A sink for source.py (the fork's examples/python/sink.py, for ulogd-rs).

Writes one line per event to `file` (default: standard output).

    [out]
    module="sink"
    path_append="examples/python"
    file="/tmp/counter.log"
"""
import sys

import ulogd

CONFIG = globals().get("ULOGD_CONFIG", {})
out = {}


def configure(ikeys, okeys):
    ikeys.type = ulogd.ULOGD_DTYPE_RAW
    okeys.type = ulogd.ULOGD_DTYPE_SINK
    ikeys.add(ulogd.Keyinfo(name="counter.value", type=ulogd.ULOGD_RET_UINT64))
    ikeys.add(ulogd.Keyinfo(name="counter.time", type=ulogd.ULOGD_RET_UINT32))
    ikeys.add(ulogd.Keyinfo(name="counter.label", type=ulogd.ULOGD_RET_STRING,
                            flags=ulogd.ULOGD_KEYF_OPTIONAL))
    return 0


def start(ikset):
    path = CONFIG.get("file")
    out["f"] = open(path, "a", buffering=1) if path else sys.stdout
    return 0


def interp(ikset, okset):
    out["f"].write("counter=%d time=%d label=%s\n" % (
        ikset["counter.value"].value, ikset["counter.time"].value,
        ikset["counter.label"].value))
    return ulogd.ULOGD_IRET_OK


def stop():
    if out.get("f") not in (None, sys.stdout):
        out["f"].close()
    return 0


def signal(signo):
    return 0
