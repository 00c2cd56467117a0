"""NFCT flow logging (the fork's output/nfct2_log.py, for ulogd-rs).

One line per conntrack event: addresses (IPv4 or IPv6, as ipaddress objects),
ports, protocol, 64-bit byte/packet counters (no truncation) and flow times.

    stack=ct1:NFCT,py1:PYTHON
    [ct1]
    event_mask=0x4
    [py1]
    module="nfct_log"
    path_append="examples/python"
    file="/var/log/ulogd-flows.log"
"""
import sys

import ulogd

CONFIG = globals().get("ULOGD_CONFIG", {})
U8, U16, U32, U64, ADDR = (ulogd.ULOGD_RET_UINT8, ulogd.ULOGD_RET_UINT16,
                           ulogd.ULOGD_RET_UINT32, ulogd.ULOGD_RET_UINT64,
                           ulogd.ULOGD_RET_IPADDR)
KEYS = [
    ("oob.family", U8), ("ct.id", U32), ("ct.event", U32),
    ("orig.ip.saddr", ADDR), ("orig.ip.daddr", ADDR), ("orig.ip.protocol", U8),
    ("orig.l4.sport", U16), ("orig.l4.dport", U16),
    ("orig.raw.pktlen", U64), ("orig.raw.pktcount", U64),
    ("reply.raw.pktlen", U64), ("reply.raw.pktcount", U64),
    ("flow.start.sec", U32), ("flow.end.sec", U32),
]
EVENTS = {1: "NEW", 2: "UPDATE", 4: "DESTROY"}
out = {}


def configure(ikeys, okeys):
    ikeys.type = ulogd.ULOGD_DTYPE_FLOW
    okeys.type = ulogd.ULOGD_DTYPE_SINK
    for name, t in KEYS:
        ikeys.add(ulogd.Keyinfo(name=name, type=t, flags=ulogd.ULOGD_KEYF_OPTIONAL))
    return 0


def start(ikset):
    path = CONFIG.get("file")
    out["f"] = open(path, "a", buffering=1) if path else sys.stdout
    return 0


def interp(ikset, okset):
    v = {k.name: k.value for k in ikset}
    start, end = v["flow.start.sec"], v["flow.end.sec"]
    dur = end - start if start is not None and end is not None else None
    out["f"].write(
        "%s id=%s %s %s:%s -> %s:%s proto=%s bytes=%s/%s packets=%s/%s duration=%s\n" % (
            EVENTS.get(v["ct.event"], v["ct.event"]), v["ct.id"],
            "ipv6" if v["oob.family"] == 10 else "ipv4",
            v["orig.ip.saddr"], v["orig.l4.sport"], v["orig.ip.daddr"],
            v["orig.l4.dport"], v["orig.ip.protocol"],
            v["orig.raw.pktlen"], v["reply.raw.pktlen"],
            v["orig.raw.pktcount"], v["reply.raw.pktcount"], dur))
    return ulogd.ULOGD_IRET_OK


def stop():
    if out.get("f") not in (None, sys.stdout):
        out["f"].close()
    return 0


def signal(signo):
    return 0
