"""NFLOG packet logging (the fork's output/nflog2_log.py, for ulogd-rs).

One line per packet with the prefix, addresses, protocol, ports and length, to
`file` (default standard output). Values arrive as Python types: addresses as
ipaddress objects, strings as str, integers as int, unset keys as None.

    stack=log1:NFLOG,base1:BASE,py1:PYTHON
    [py1]
    module="nflog_log"
    path_append="examples/python"
    file="/var/log/ulogd-packets.log"
"""
import sys

import ulogd

CONFIG = globals().get("ULOGD_CONFIG", {})
KEYS = [
    ("oob.prefix", ulogd.ULOGD_RET_STRING),
    ("oob.family", ulogd.ULOGD_RET_UINT8),
    ("raw.pktlen", ulogd.ULOGD_RET_UINT32),
    ("ip.saddr", ulogd.ULOGD_RET_IPADDR),
    ("ip.daddr", ulogd.ULOGD_RET_IPADDR),
    ("ip.protocol", ulogd.ULOGD_RET_UINT8),
    ("tcp.sport", ulogd.ULOGD_RET_UINT16),
    ("tcp.dport", ulogd.ULOGD_RET_UINT16),
    ("udp.sport", ulogd.ULOGD_RET_UINT16),
    ("udp.dport", ulogd.ULOGD_RET_UINT16),
    ("icmp.type", ulogd.ULOGD_RET_UINT8),
]
out = {}


def configure(ikeys, okeys):
    ikeys.type = ulogd.ULOGD_DTYPE_PACKET
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
    sport = v["tcp.sport"] if v["tcp.sport"] is not None else v["udp.sport"]
    dport = v["tcp.dport"] if v["tcp.dport"] is not None else v["udp.dport"]
    line = "%sSRC=%s DST=%s PROTO=%s LEN=%s" % (
        v["oob.prefix"] or "", v["ip.saddr"], v["ip.daddr"], v["ip.protocol"],
        v["raw.pktlen"])
    if sport is not None:
        line += " SPT=%d DPT=%d" % (sport, dport)
    if v["icmp.type"] is not None:
        line += " TYPE=%d" % v["icmp.type"]
    out["f"].write(line + "\n")
    return ulogd.ULOGD_IRET_OK


def stop():
    if out.get("f") not in (None, sys.stdout):
        out["f"].close()
    return 0


def signal(signo):
    return 0
