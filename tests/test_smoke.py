"""A first check that the fixture provides a working API."""

from __future__ import annotations


def test_R1_switch_round_trip(api):
    def run(a, b):
        return api.getcurrent().parent.switch(a + b) * 2

    g = api.greenlet(run)
    assert g.switch(1, 2) == 3
    assert g.switch(21) == 42
    assert g.dead
