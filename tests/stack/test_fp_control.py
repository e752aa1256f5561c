"""The floating-point control state (rounding mode) belongs to each greenlet.

A greenlet that changes the rounding mode (fesetround) must not change it for
the others of its thread: every switch carries it (x86_64: MXCSR and the x87
control word; AArch64: FPCR; 32-bit ARM: the control bits of FPSCR).  The
check is arithmetic, not only fegetround(): each greenlet divides and gets the
results of its own mode.  It runs in a subprocess, which may crash or leave a
rounding mode behind.
"""

from __future__ import annotations

import platform

import pytest

#: The <fenv.h> rounding-mode values of glibc (they are the hardware's bits).
FE_MODES = {
    "x86": {"nearest": 0x000, "down": 0x400, "up": 0x800, "zero": 0xC00},
    "arm": {"nearest": 0x000000, "up": 0x400000, "down": 0x800000, "zero": 0xC00000},
}
MACHINES = {
    "x86_64": "x86",
    "amd64": "x86",
    "i386": "x86",
    "i686": "x86",
    "aarch64": "arm",
    "arm64": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
}

SCRIPT = """
import ctypes, random

MODES = {modes!r}
try:
    libm = ctypes.CDLL("libm.so.6")
except OSError:
    libm = ctypes.CDLL(None)
fesetround, fegetround = libm.fesetround, libm.fegetround
fesetround.argtypes = [ctypes.c_int]

ONE, THREE, TEN = float("1"), float("3"), float("10")

def signature():
    # to nearest, 1/3 rounds down and 1/10 up: with -1/3, each of the four
    # modes gives its own results
    return (ONE / THREE, ONE / TEN, -ONE / THREE)

def set_mode(name):
    assert fesetround(MODES[name]) == 0, name

EXPECT = {{}}
for name in MODES:
    set_mode(name)
    EXPECT[name] = signature()
set_mode("nearest")
assert len(set(EXPECT.values())) == 4, EXPECT

def check(name):
    assert fegetround() == MODES[name], (name, hex(fegetround()))
    assert signature() == EXPECT[name], (name, signature(), EXPECT[name])

def nest(n, fn):
    # C frames (map's callback) between the greenlet's start and its switches
    if n == 0:
        return fn()
    return list(map(lambda _: nest(n - 1, fn), [0]))[0]

main = getcurrent()
rng = random.Random(7)
gs = {{}}

def body(name, depth):
    set_mode(name)
    def loop():
        while True:
            check(name)
            nxt = main.switch()
            if nxt is None:
                return
    return nest(depth, loop)

# main keeps "nearest"; each greenlet sets its own mode once, at its start
for name, depth in (("up", 3), ("down", 40), ("zero", 12)):
    gs[name] = greenlet(body)
    gs[name].switch(name, depth)
    check("nearest")

for i in range({switches}):
    name = rng.choice(sorted(gs))
    gs[name].switch(True)
    check("nearest")

for g in gs.values():
    g.switch(None)
    assert g.dead
check("nearest")
print("ok")
"""


def test_rounding_mode_travels_with_each_greenlet(run_script):
    family = MACHINES.get(platform.machine().lower())
    if family is None:
        pytest.skip("the <fenv.h> rounding-mode values of this CPU are not known to this test")
    proc = run_script(SCRIPT.format(modes=FE_MODES[family], switches=3000), timeout=200)
    assert proc.returncode == 0, "exit status %d\nstdout:\n%s\nstderr:\n%s" % (
        proc.returncode,
        proc.stdout[-2000:],
        proc.stderr[-6000:],
    )
    assert proc.stdout == "ok\n", proc.stdout[-2000:]
