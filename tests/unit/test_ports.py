"""Reading who listens on a port from /proc/net/tcp text; two parts on one port; URLs printed without passwords."""
from __future__ import annotations

import pytest

from piggy.child import shown
from piggy.ports import duplicates, listening_inodes

pytestmark = pytest.mark.unit

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 0:0 00:0 0     0        0 4242 1 0 100 0 0 10 0
   1: 0100007F:1F41 00000000:0000 0A 0:0 00:0 0     0        0 4343 1 0 100 0 0 10 0
   2: 0100007F:1F40 0100007F:D2F0 01 0:0 00:0 0     0        0 4444 1 0 20 4 30 10 -1
"""


def test_only_listening_sockets_on_that_port_count() -> None:
    assert listening_inodes(PROC_NET_TCP, 8000) == {"4242"}  # 0x1F40; the connection (01) is not
    assert listening_inodes(PROC_NET_TCP, 8001) == {"4343"}
    assert listening_inodes(PROC_NET_TCP, 8002) == set()


def test_two_parts_configured_on_one_port_are_named() -> None:
    assert duplicates([("gateway", 8000), ("executor", 8001), ("dashboard", 8000)]) == [
        "gateway and dashboard are both configured on port 8000"]
    assert duplicates([("gateway", 8000)]) == []


@pytest.mark.parametrize(("url", "printed"), [
    ("redis://operator:s3cret-pw@127.0.0.1:6379/0", "redis://operator:***@127.0.0.1:6379/0"),
    ("redis://:s3cret-pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("http://127.0.0.1:8000/healthz", "http://127.0.0.1:8000/healthz"),
])
def test_a_url_is_printed_without_its_password(url: str, printed: str) -> None:
    assert shown(url) == printed
