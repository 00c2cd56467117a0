"""NFQUEUE verdicts (the fork's output/nfq_accept.py, for ulogd-rs).

Accepts every queued packet and sets its mark, except packets to a TCP or UDP
port listed in `drop_ports` (comma-separated), which are dropped. Put it in a
stack fed by NFQ; the verdict is issued when every stack of the packet has run.

    stack=q1:NFQ,base1:BASE,py1:PYTHON
    [py1]
    module="nfq_accept"
    path_append="examples/python"
    mark="0x10"
    drop_ports="9"
"""
import ulogd

CONFIG = globals().get("ULOGD_CONFIG", {})
MARK = int(CONFIG.get("mark", "0"), 0)
DROP = {int(p) for p in CONFIG.get("drop_ports", "").split(",") if p.strip()}


def configure(ikeys, okeys):
    ikeys.type = ulogd.ULOGD_DTYPE_PACKET
    okeys.type = ulogd.ULOGD_DTYPE_SINK
    for name in ("tcp.dport", "udp.dport"):
        ikeys.add(ulogd.Keyinfo(name=name, type=ulogd.ULOGD_RET_UINT16,
                                flags=ulogd.ULOGD_KEYF_OPTIONAL))
    return 0


def start(ikset):
    return 0


def interp(ikset, okset):
    dport = ikset["tcp.dport"].value
    if dport is None:
        dport = ikset["udp.dport"].value
    if dport in DROP:
        ikset.set_verdict(ulogd.NF_DROP)
    else:
        ikset.set_verdict(ulogd.NF_ACCEPT, mark=MARK or None)
    return ulogd.ULOGD_IRET_OK


def stop():
    return 0


def signal(signo):
    return 0
