"""An enricher: adds `inventory.host` and `inventory.owner` to every packet from
a lookup table keyed by source address (a CSV file `address,host,owner` given as
`table`), then passes the event on to the next plugin (JSON, LOGEMU...).

    stack=log1:NFLOG,base1:BASE,inv1:PYTHON,ip2str1:IP2STR,json1:JSON
    [inv1]
    module="enrich"
    path_append="examples/python"
    table="/etc/ulogd/inventory.csv"
    default_owner="unknown"
"""
import csv
import ipaddress

import ulogd

CONFIG = globals().get("ULOGD_CONFIG", {})
TABLE = {}


def configure(ikeys, okeys):
    ikeys.type = ulogd.ULOGD_DTYPE_PACKET
    okeys.type = ulogd.ULOGD_DTYPE_PACKET
    ikeys.add(ulogd.Keyinfo(name="ip.saddr", type=ulogd.ULOGD_RET_IPADDR,
                            flags=ulogd.ULOGD_KEYF_OPTIONAL))
    okeys.add(ulogd.Keyinfo(name="inventory.host", type=ulogd.ULOGD_RET_STRING,
                            cim_name="src_host"))
    okeys.add(ulogd.Keyinfo(name="inventory.owner", type=ulogd.ULOGD_RET_STRING))
    return 0


def start(ikset):
    TABLE.clear()
    with open(CONFIG["table"], newline="") as f:
        for row in csv.reader(f):
            if row and not row[0].startswith("#"):
                TABLE[ipaddress.ip_address(row[0].strip())] = (row[1].strip(), row[2].strip())
    return 0


def interp(ikset, okset):
    saddr = ikset["ip.saddr"].value
    host, owner = TABLE.get(saddr, (None, CONFIG.get("default_owner")))
    okset["inventory.host"].value = host
    okset["inventory.owner"].value = owner
    return ulogd.ULOGD_IRET_OK


def stop():
    return 0


def signal(signo):
    return 0
