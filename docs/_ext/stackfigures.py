"""Sphinx extension: ``.. stack-figure::`` draws how greenlets share a C stack, as SVG.

The directive's content is a short script that drives a model of pygreenlet's
switch; every ``snapshot`` line becomes one panel of the figure::

    .. stack-figure::
       :caption: A finishes, and main runs again.

       call 4 main: interpreter      # the running stacklet calls deeper (4 bands)
       new A                         # a stacklet that has not run yet (optional)
       switch A                      # switch to A: started right here, as it is new
       call 3 A: run()
       snapshot A runs               # draw a panel
       ret 2                         # the running stacklet returns from 2 bands
       finish main                   # its entry returned: hand over to main
       snapshot after A finished

Text after `` #`` is a comment.  Options: ``:caption:``, ``:alt:`` (else the
alt text describes every panel), ``:name:``, ``:columns:`` (panels per row,
default 2) and ``:model:``.

``SlicingModel`` (the default, ``:model: slicing``) is ``pyg_save_state()`` and
``pyg_restore_state()`` of ``_speedups/pyg_switch.h`` written again in Python
over an array of stack cells.  It checks every step: a cell it saves or finds
on resumption must belong to its stacklet, and the running stacklet may never
write over a parked one's cells; a script that breaks this is an error, so the
docs build fails instead of drawing something the algorithm does not do.
``:model: threads`` drives ``ThreadModel``, the reference backend's scheme (one
OS thread per started greenlet, nothing copied).

The SVG is written under the doctree directory and inserted as a figure (an
image with alt text, generated from the model unless ``:alt:`` is given, and
the ``:caption:``), so the builder copies it into the output like any image.
Pure Python; nothing but Sphinx and docutils.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Tuple
from xml.sax.saxutils import escape

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

UNIT = 0x100  # bytes per band in the drawings (sizes are schematic)
TOP = 0x7FFDE000  # the address just above the first band drawn
CHAR_P_MINUS_1 = 2**64 - 1  # (char *)-1: the main stacklet's stop

#: One colour per stacklet, in order of appearance (main first).
PALETTE = ["#4e79a7", "#e8731c", "#3d8f3a", "#9c5fa0", "#d1495b", "#2a9d9f"]
DEAD_FILL = "#e4e4e4"


class FigureError(Exception):
    """A script the model refuses: a typo, or a step that would lose stack bytes."""


class Cell:
    """One band of stack memory: who wrote it and what it holds."""

    __slots__ = ("owner", "label", "kind")

    def __init__(self, owner: str, label: str, kind: str) -> None:
        self.owner = owner
        self.label = label
        self.kind = kind  # "frame", "regs" (pushed by the switch) or "boot"


# --------------------------------------------------------------------------------------
# The model of stack slicing (compare _speedups/pyg_switch.h line by line)
# --------------------------------------------------------------------------------------


class Stacklet:
    """The fields of ``pyg_stacklet_t`` that the stack walks read and write."""

    def __init__(self, name: str, is_main: bool = False) -> None:
        self.name = name
        self.is_main = is_main
        self.start: int | None = None
        self.stop: int | None = CHAR_P_MINUS_1 if is_main else None  # None: never ran
        self.copy: Dict[int, Cell] = {}  # the heap copy, by the address each cell came from
        self.saved = 0  # bytes of [start, start + saved) that are on the heap
        self.prev: Stacklet | None = None
        self.dead = False
        self.abandoned = (0, 0)  # the slice it left on the stack when it finished (drawings)


class SlicingModel:
    """All stacklets of one thread on its one C stack; a switch moves slices to and from the heap.

    ``mem`` maps the address of each band to the cell last written there; ``sp``
    is the stack pointer of the running stacklet (the stack grows down).
    """

    def __init__(self) -> None:
        self.top = TOP
        self.unit = UNIT
        self.mem: Dict[int, Cell] = {}
        self.sp = TOP
        main = Stacklet("main", is_main=True)
        self.stacklets: Dict[str, Stacklet] = {"main": main}
        self.current = main
        self.origin: Stacklet | None = None
        self.target: Stacklet | None = None
        self.events: List[Tuple[str, str, int, int]] = []  # (save|restore, name, lo, hi)

    def stacklet(self, name: str) -> Stacklet:
        if name not in self.stacklets:
            self.stacklets[name] = Stacklet(name)
        return self.stacklets[name]

    # -- what the running code does ---------------------------------------------------

    def new(self, name: str) -> None:
        """``new_stacklet()``: a stacklet that has not run yet (``stop`` is NULL)."""
        if name in self.stacklets:
            raise FigureError("%s exists already" % name)
        self.stacklet(name)

    def call(self, n: int, label: str) -> None:
        """The running stacklet calls deeper: *n* bands of frames below ``sp``."""
        for _ in range(n):
            self._push(label, "frame")

    def ret(self, n: int) -> None:
        """The running stacklet returns from *n* bands of frames."""
        cur = self.current
        new_sp = self.sp + n * self.unit
        limit = self.top if cur.is_main else cur.stop - self.unit  # its bottom frame stays
        if new_sp > limit:
            raise FigureError("%s cannot return from %d bands here" % (cur.name, n))
        self.sp = new_sp

    def switch(self, name: str) -> None:
        """``pyg_switch()``: park the running stacklet and run *name* (started here if new)."""
        me, target = self.current, self.stacklet(name)
        if target is me:
            raise FigureError("%s is already running" % name)
        if target.dead:
            raise FigureError("cannot switch to %s: it is dead" % name)
        self._push(me.name + ": registers", "regs")  # pyg_stack_switch pushes them
        self._stack_switch(me, target)

    def finish(self, name: str) -> None:
        """``pyg_finish()``: the running stacklet's entry returned; resume (or start) *name*."""
        me, target = self.current, self.stacklet(name)
        if me.is_main:
            raise FigureError("the main stacklet never finishes")
        if target is me or target.dead:
            raise FigureError("a finished stacklet must hand over to another live one")
        me.dead = True
        me.start = None
        self._push(me.name + ": pyg_finish()", "regs")
        me.abandoned = (self.sp, me.stop)
        self._stack_switch(me, target)

    # -- what pyg_stack_switch and its helpers do -------------------------------------

    def _push(self, label: str, kind: str) -> None:
        self.sp -= self.unit
        for s in self.stacklets.values():
            if s is not self.current and self._on_stack(s, self.sp):
                raise FigureError(
                    "%s would overwrite a byte of %s at %#x" % (self.current.name, s.name, self.sp)
                )
        self.mem[self.sp] = Cell(self.current.name, label, kind)

    def _on_stack(self, s: Stacklet, addr: int) -> bool:
        """Whether *addr* holds a byte of parked *s* that is not on the heap."""
        if s.dead or s.start is None or s.stop is None or s is self.current:
            return False
        return s.start + s.saved <= addr < s.stop

    def _stack_switch(self, origin: Stacklet, target: Stacklet) -> None:
        """The assembly: ``save(sp)``; then ``start()`` right here, or move sp and ``restore()``."""
        self.origin, self.target, self.current = origin, target, target
        new_sp = self._save_state(self.sp)
        if new_sp is None:
            return  # first run: the new stacklet's frames go right below this point
        self.sp = new_sp
        self._restore_state()
        self.sp += self.unit  # the target pops its registers and returns from its switch

    def _save_state(self, sp: int) -> int | None:
        """``pyg_save_state()``: park the origin at *sp*; move below-target bytes to the heap."""
        cur, target = self.origin, self.target
        assert cur is not None and target is not None
        if not cur.dead:
            cur.start = sp
        if target.stop is None:
            owner = cur
            while owner.dead:
                owner = owner.prev
            target.stop = sp
            target.prev = owner
            return None
        owner = cur
        while owner.stop < target.stop:
            if not owner.dead:
                self._copy_to_heap(owner, owner.stop)
            owner = owner.prev
        if owner is not target and not owner.dead and owner.start < target.stop:
            self._copy_to_heap(owner, target.stop)
        return target.start

    def _copy_to_heap(self, s: Stacklet, upto: int) -> None:
        """``pyg_copy_to_heap()``: make sure [s.start, upto) is on the heap (only new bytes)."""
        want = upto - s.start
        if want > s.saved:
            lo, hi = s.start + s.saved, upto
            for addr in range(lo, min(hi, self.top), self.unit):
                cell = self.mem.get(addr)
                if cell is None or cell.owner != s.name:
                    raise FigureError("would save a byte at %#x that is not %s's" % (addr, s.name))
                s.copy[addr] = cell
            s.saved = want
            self.events.append(("save", s.name, lo, hi))

    def _restore_state(self) -> None:
        """``pyg_restore_state()``: copy the target's bytes back, free them, recompute prev."""
        target, origin = self.target, self.origin
        assert target is not None and origin is not None
        if target.saved:
            self.mem.update(target.copy)
            self.events.append(("restore", target.name, target.start, target.start + target.saved))
            target.copy = {}
            target.saved = 0
        owner: Stacklet | None = origin
        while owner is not None and (owner.stop <= target.stop or owner.dead):
            owner = owner.prev
        target.prev = owner
        for addr in range(target.start, min(target.stop, self.top), self.unit):
            cell = self.mem.get(addr)
            if cell is None or cell.owner != target.name:
                raise FigureError("%s resumed with a byte at %#x not its own" % (target.name, addr))

    # -- pictures -------------------------------------------------------------------------

    def snapshot(self, title: str) -> Dict[str, Any]:
        """The state to draw: every band, every stacklet, and the copies since the last one."""
        states = []
        for s in self.stacklets.values():
            states.append(
                {
                    "name": s.name,
                    "running": s is self.current,
                    "new": s.stop is None,
                    "dead": s.dead,
                    "start": s.start,
                    "stop": s.stop,
                    "saved": s.saved,
                    "prev": s.prev.name if s.prev is not None else None,
                }
            )
        bands = []  # (address, status, owner, label, kind), from high to low addresses
        addr = self.top - self.unit
        lowest = min(list(self.mem) + [self.sp])
        while addr >= lowest:
            bands.append((addr,) + self._classify(addr))
            addr -= self.unit
        shot = {"title": title, "sp": self.sp, "running": self.current.name}
        shot.update(stacklets=states, bands=bands, events=self.events, lowest=lowest)
        self.events = []
        return shot

    def _classify(self, addr: int) -> Tuple[str, str, str, str]:
        cell = self.mem.get(addr)
        cur = self.current
        if self.sp <= addr < cur.stop:
            owner: str | None = cur.name
        else:
            owner = next((s.name for s in self.stacklets.values() if self._on_stack(s, addr)), None)
        if owner is not None:
            if cell is None or cell.owner != owner:
                raise FigureError("the band at %#x is not %s's" % (addr, owner))
            return ("live", owner, cell.label, cell.kind)
        if cell is not None:
            lo, hi = self.stacklets[cell.owner].abandoned
            if lo <= addr < hi:
                return ("abandoned", cell.owner, "", "")
        return ("free", "", "", "")


# --------------------------------------------------------------------------------------
# The reference backend: one OS thread (with a stack of its own) per started stacklet
# --------------------------------------------------------------------------------------


class ThreadModel:
    """Each started stacklet runs on an OS thread of its own; a switch is a lock hand-off."""

    def __init__(self) -> None:
        self.stacks: Dict[str, List[Cell]] = {"main": []}
        self.state: Dict[str, str] = {"main": "running"}
        self.current = "main"

    def new(self, name: str) -> None:
        if name in self.state:
            raise FigureError("%s exists already" % name)
        self.stacks[name] = []
        self.state[name] = "new"

    def call(self, n: int, label: str) -> None:
        self.stacks[self.current].extend(Cell(self.current, label, "frame") for _ in range(n))

    def ret(self, n: int) -> None:
        stack = self.stacks[self.current]
        keep = 0 if self.current == "main" else 1  # the thread's bootstrap frame stays
        if len(stack) - n < keep:
            raise FigureError("%s cannot return from %d bands here" % (self.current, n))
        del stack[len(stack) - n :]

    def switch(self, name: str) -> None:
        me = self.current
        if name == me or self.state.get(name) == "ended":
            raise FigureError("cannot switch from %s to %s" % (me, name))
        self.stacks[me].append(Cell(me, "switch(): blocked", "regs"))
        self.state[me] = "parked"
        self._resume(name)

    def finish(self, name: str) -> None:
        me = self.current
        if me == "main" or name == me or self.state.get(name) == "ended":
            raise FigureError("cannot finish %s into %s" % (me, name))
        self.stacks[me] = []
        self.state[me] = "ended"
        self._resume(name)

    def _resume(self, name: str) -> None:
        if self.state.get(name, "new") == "new":  # _resume() starts its thread
            self.stacks[name] = [Cell(name, "_bootstrap(): entry()", "boot")]
        else:  # releases its _wake lock: its acquire() returns
            self.stacks[name].pop()
        self.state[name] = "running"
        self.current = name

    def snapshot(self, title: str) -> Dict[str, Any]:
        threads = [(n, list(self.stacks[n]), self.state[n]) for n in self.stacks]
        return {"title": title, "threads": threads}


def run_script(lines: List[Tuple[int, str]], model: Any) -> List[Dict[str, Any]]:
    """Run ``(line number, text)`` commands on *model*; return its snapshots."""
    shots = []
    for lineno, text in lines:
        words = text.split(" #")[0].strip().split(None, 2)
        if not words or words[0].startswith("#"):
            continue
        cmd, args = words[0], words[1:]
        try:
            if cmd in ("call", "ret"):
                n = int(args[0])
                if n < 1:
                    raise ValueError(n)
                if cmd == "call":
                    model.call(n, args[1] if len(args) > 1 else "")
                else:
                    model.ret(n)
            elif cmd in ("new", "switch", "finish") and len(args) == 1:
                getattr(model, cmd)(args[0])
            elif cmd == "snapshot" and args:
                shots.append(model.snapshot(" ".join(args)))
            else:
                raise FigureError("unknown command %r" % text.strip())
        except (IndexError, ValueError):
            raise FigureError("line %d: cannot read %r" % (lineno, text.strip()))
        except FigureError as exc:
            raise FigureError("line %d (%s): %s" % (lineno, text.strip(), exc))
    if not shots:
        raise FigureError("the script has no snapshot")
    for i, shot in enumerate(shots):  # panels are numbered when there are several
        shot["heading"] = shot["title"] if len(shots) == 1 else "%d. %s" % (i + 1, shot["title"])
    return shots


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"
GREY = "#555555"
UH = 20  # pixels per band
AXIS_W = 74  # the address axis at the left of each row
SP_W = 24  # room for the sp arrow
STACK_W = 128
LANE_W = 20  # one lane per stacklet for its [start, stop) bracket
HEAP_W = 64  # one lane per stacklet that has a heap copy
PANEL_GAP = 22
TITLE_H = 44
ROW_GAP = 20
LINE_H = 14
CHAR_W = 6.3  # average advance of the 11 px sans font
TABLE_X = (0, 34, 106, 206, 216)  # name, start, stop, saved (right-aligned), prev
TABLE_W = 250


def tint(colour: str, amount: float) -> str:
    """*colour* mixed with white (amount 0 = white, 1 = colour)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(255 - (255 - c) * amount) for c in (r, g, b)]
    return "#%02x%02x%02x" % tuple(mix)


def fit(text: str, width: float) -> str:
    limit = int(width / CHAR_W)
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "\u2026"


def hexaddr(addr: int | None) -> str:
    if addr is None:
        return "-"
    return "(char *)-1" if addr == CHAR_P_MINUS_1 else "%#x" % addr


class Svg:
    """A list of SVG elements with a few helpers."""

    def __init__(self) -> None:
        self.parts: List[str] = []

    def add(self, fmt: str, *args: Any) -> None:
        self.parts.append(fmt % args if args else fmt)

    def text(self, x: float, y: float, s: str, **attrs: Any) -> None:
        extra = "".join(' %s="%s"' % (k.replace("_", "-"), v) for k, v in attrs.items())
        self.add('<text x="%.1f" y="%.1f"%s>%s</text>', x, y, extra, escape(s))

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str, **attrs: Any) -> None:
        extra = "".join(' %s="%s"' % (k.replace("_", "-"), v) for k, v in attrs.items())
        self.add(
            '<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"%s/>',
            *(x1, y1, x2, y2, colour, extra),
        )

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str, stroke: str, **attrs: Any
    ) -> None:
        extra = "".join(' %s="%s"' % (k.replace("_", "-"), v) for k, v in attrs.items())
        self.add(
            '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="%s"%s/>',
            *(x, y, w, h, fill, stroke, extra),
        )

    def arrow(self, x1: float, y: float, x2: float, colour: str, width: float = 1.4) -> None:
        """A horizontal arrow from x1 to x2 (head at x2)."""
        d = 6 if x2 > x1 else -6
        self.line(x1, y, x2 - d, y, colour, stroke_width=width)
        self.add(
            '<path d="M%.1f %.1f L%.1f %.1f L%.1f %.1f Z" fill="%s"/>',
            *(x2, y, x2 - d, y - 3.5, x2 - d, y + 3.5, colour),
        )

    def document(self, width: float, height: float, title: str) -> str:
        head = (
            '<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" '
            'viewBox="0 0 %d %d" font-family="%s" font-size="11">'
            "<title>%s</title>"
            '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="6" height="6" fill="%s"/>'
            '<line x1="0" y1="0" x2="0" y2="6" stroke="#b5b5b5" stroke-width="2"/></pattern></defs>'
            '<rect width="100%%" height="100%%" fill="#ffffff"/>'
        ) % (width, height, width, height, FONT, escape(title), DEAD_FILL)
        return head + "".join(self.parts) + "</svg>\n"


def colours_for(names: List[str]) -> Dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def merge_bands(bands: List[Tuple[Any, ...]], bottom: int) -> List[Tuple[Any, ...]]:
    """Runs of bands with the same status, owner, label and kind: (hi, lo, status, ...)."""
    padded = list(bands)
    last = padded[-1][0] if padded else TOP
    while last - UNIT >= bottom:
        last -= UNIT
        padded.append((last, "free", "", "", ""))
    runs: List[List[Any]] = []
    for addr, status, owner, label, kind in padded:
        if runs and runs[-1][2:] == [status, owner, label, kind] and runs[-1][1] == addr + UNIT:
            runs[-1][1] = addr
        else:
            runs.append([addr, addr, status, owner, label, kind])
    return [tuple(r) for r in runs]


class SlicingLayout:
    """Where things go in a figure of stack-slicing panels (one address window for all)."""

    def __init__(self, shots: List[Dict[str, Any]], columns: int) -> None:
        self.names: List[str] = []
        for shot in shots:
            for st in shot["stacklets"]:
                if st["name"] not in self.names:
                    self.names.append(st["name"])
        heap = set()
        for index, shot in enumerate(shots):
            heap.update(st["name"] for st in shot["stacklets"] if st["saved"])
            if index:
                heap.update(name for _kind, name, _lo, _hi in shot["events"])
        self.heap = [n for n in self.names if n in heap]
        self.lanes = [
            n
            for n in self.names
            if any(st["name"] == n and not st["new"] for s in shots for st in s["stacklets"])
        ]
        self.colour = colours_for(self.names)
        self.bottom = min(s["lowest"] for s in shots) - UNIT
        self.nbands = (TOP - self.bottom) // UNIT
        self.stack_h = self.nbands * UH
        self.heap_w = max(len(self.heap), 1) * (HEAP_W + 4)
        self.panel_w = max(
            SP_W + STACK_W + 8 + len(self.lanes) * LANE_W + 10 + self.heap_w, TABLE_W
        )
        self.row_h = TITLE_H + self.stack_h + 22 + (len(self.names) + 1) * LINE_H
        self.columns = max(1, min(columns, len(shots)))
        rows = (len(shots) + self.columns - 1) // self.columns
        self.width = int(AXIS_W + self.columns * self.panel_w + (self.columns - 1) * PANEL_GAP + 6)
        self.height = int(rows * self.row_h + (rows - 1) * ROW_GAP + 4)


def draw_slicing(shots: List[Dict[str, Any]], columns: int) -> Tuple[str, int, str]:
    """The SVG of stack-slicing panels, its width, and a text description of it."""
    lay = SlicingLayout(shots, columns)
    svg = Svg()
    alt = []
    for index, shot in enumerate(shots):
        row, col = divmod(index, lay.columns)
        oy = row * (lay.row_h + ROW_GAP)
        if col == 0:
            draw_axis(svg, oy + TITLE_H, lay.nbands)
        ox = AXIS_W + col * (lay.panel_w + PANEL_GAP)
        draw_slicing_panel(svg, lay, shot, index, ox, oy)
        alt.append(describe_slicing(index, shot, merge_bands(shot["bands"], lay.bottom)))
    text = " ".join(alt)
    return svg.document(lay.width, lay.height, text), lay.width, text


def draw_axis(svg: Svg, y0: float, nbands: int) -> None:
    x = AXIS_W - 6
    svg.line(x, y0, x, y0 + nbands * UH, "#888888")
    for i in range(0, nbands + 1, 2):
        yy = y0 + i * UH
        svg.line(x - 4, yy, x, yy, "#888888")
        label = "%#x" % (TOP - i * UNIT)
        svg.text(
            x - 6, yy + 3.5, label, font_family=MONO, font_size="10", fill=GREY, text_anchor="end"
        )
    svg.text(x - 6, y0 - 8, "high", fill=GREY, font_size="10", text_anchor="end")
    svg.text(x - 6, y0 + nbands * UH + 14, "low", fill=GREY, font_size="10", text_anchor="end")


def draw_slicing_panel(
    svg: Svg, lay: SlicingLayout, shot: Dict[str, Any], index: int, ox: float, oy: float
) -> None:
    y0 = oy + TITLE_H
    sx = ox + SP_W  # the stack column
    lx = sx + STACK_W + 8  # the bracket lanes
    hx = lx + len(lay.lanes) * LANE_W + 10  # the heap lanes
    colour = lay.colour
    states = {st["name"]: st for st in shot["stacklets"]}
    events = shot["events"] if index else []  # what this step copied (none before panel 1)

    def y(addr: int) -> float:
        return y0 + (TOP - min(addr, TOP)) / UNIT * UH

    svg.text(ox, oy + 14, shot["heading"], font_weight="bold", font_size="12")
    # above the window, main's frames go on up to its stop, (char *)-1
    zig = " ".join(
        "L%.1f %.1f" % (sx + i * STACK_W / 12, y0 - (8 if i % 2 else 3)) for i in range(13)
    )
    svg.add(
        '<path d="M%.1f %.1f %s L%.1f %.1f Z" fill="%s" stroke="%s"/>',
        *(sx, y0, zig, sx + STACK_W, y0, tint(colour["main"], 0.22), colour["main"]),
    )
    svg.text(
        sx + STACK_W / 2,
        y0 - 12,
        "\u2191 main.stop = (char *)-1",
        fill=GREY,
        font_size="10",
        text_anchor="middle",
    )
    svg.text(lx, y0 - 6, "[start, stop)", fill=GREY, font_size="10")
    svg.rect(hx - 3, y0, lay.heap_w + 2, lay.stack_h, "#f4f4f4", "#dddddd")
    if not lay.heap:
        svg.text(hx + 2, y0 + 14, "(empty)", fill="#999999", font_size="10")

    # the C stack, band by band
    for hi, lo, status, owner, label, kind in merge_bands(shot["bands"], lay.bottom):
        top_y, h = y(hi + UNIT), (hi - lo + UNIT) / UNIT * UH
        mid = top_y + h / 2 + 4
        if status == "live":
            c = colour[owner]
            svg.rect(sx, top_y, STACK_W, h, tint(c, 0.5 if kind == "regs" else 0.22), c)
            style = {"font_style": "italic"} if kind == "regs" else {}
            svg.text(sx + 5, mid, fit(label, STACK_W - 8), **style)
        elif status == "abandoned":
            svg.rect(sx, top_y, STACK_W, h, "url(#hatch)", "#999999")
            svg.text(sx + 5, mid, fit("%s (dead): abandoned" % owner, STACK_W - 8), fill="#333333")
        else:
            svg.rect(sx, top_y, STACK_W, h, "#ffffff", "#bbbbbb", stroke_dasharray="3 3")
            if h >= 2 * UH:
                svg.text(sx + 5, mid, "unused", fill="#999999")
    svg.text(
        sx + STACK_W / 2,
        y0 + lay.stack_h + 13,
        "C stack (grows down)",
        fill=GREY,
        font_size="10",
        text_anchor="middle",
    )
    svg.text(hx - 2, y0 + lay.stack_h + 13, "heap", fill=GREY, font_size="10")
    sp_y = y(shot["sp"])
    svg.arrow(ox, sp_y, sx - 1, "#000000", 1.6)
    svg.text(ox, sp_y - 4, "sp", font_weight="bold")

    # what this step copied: arrows (under the boxes) from the stack to the heap and back
    for kind, name, lo, hi in events:
        bx = hx + lay.heap.index(name) * (HEAP_W + 4)
        mid = (y(hi) + y(lo)) / 2
        if kind == "save":
            svg.arrow(sx + STACK_W + 1, mid, bx - 1, colour[name], 1.6)
        else:
            svg.arrow(bx - 1, mid, sx + STACK_W + 1, colour[name], 1.6)

    # each stacklet's [start, stop): solid where its bytes are on the stack, dashed where
    # they are on the heap; a small arrow at its stop points to its prev
    for i, name in enumerate(lay.lanes):
        st = states.get(name)
        if st is None or st["new"] or st["dead"]:
            continue
        x, c = lx + i * LANE_W + 5, colour[name]
        top_addr = min(st["stop"], TOP)
        low = shot["sp"] if st["running"] else st["start"]
        on_stack_low = low if st["running"] else st["start"] + st["saved"]
        if on_stack_low < top_addr:
            svg.line(x, y(top_addr), x, y(on_stack_low), c, stroke_width="3")
        if not st["running"] and st["saved"]:
            svg.line(x, y(on_stack_low), x, y(low), c, stroke_width="2", stroke_dasharray="4 3")
        if st["stop"] <= TOP:
            svg.line(x - 3, y(top_addr), x + 3, y(top_addr), c, stroke_width="2")
        svg.line(x - 3, y(low), x + 3, y(low), c, stroke_width="2")
        mid = (y(top_addr) + y(low)) / 2
        half = len(name) * 3.6 + 2
        svg.rect(x + 3, mid - half, 12, 2 * half, "#ffffff", "none")
        svg.add(
            '<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle" '
            'font-weight="bold" fill="%s">%s</text>',
            *(x + 13, mid, c, escape(name)),
        )
        if st["prev"] in lay.lanes and st["stop"] <= TOP:
            svg.arrow(x, y(st["stop"]), lx + lay.lanes.index(st["prev"]) * LANE_W + 5, c, 1.1)

    # heap copies, each beside the addresses it came from
    for j, name in enumerate(lay.heap):
        bx, c, st = hx + j * (HEAP_W + 4), colour[name], states[name]
        svg.text(
            bx + HEAP_W / 2,
            y0 - 6,
            name + ".copy",
            fill=c,
            text_anchor="middle",
            font_weight="bold",
        )
        for kind, ename, lo, hi in events:
            if ename == name and kind == "restore":
                svg.rect(bx, y(hi), HEAP_W, y(lo) - y(hi), "none", c, stroke_dasharray="4 3")
                for dy, words in ((13, "copied"), (25, "back, freed")):
                    svg.text(
                        bx + HEAP_W / 2,
                        y(hi) + dy,
                        words,
                        fill=c,
                        font_size="10",
                        text_anchor="middle",
                    )
        if st["saved"]:
            lo, hi = st["start"], st["start"] + st["saved"]
            svg.rect(bx, y(hi), HEAP_W, y(lo) - y(hi), tint(c, 0.22), c)
            for kind, ename, elo, ehi in events:
                if ename == name and kind == "save":  # saved by this step
                    svg.rect(bx, y(ehi), HEAP_W, y(elo) - y(ehi), tint(c, 0.5), c, stroke_width="2")
            label = "%d B" % st["saved"]
            svg.text(
                bx + HEAP_W / 2,
                (y(hi) + y(lo)) / 2 + 4,
                label,
                text_anchor="middle",
                font_size="10",
            )

    # the fields of every stacklet's pyg_stacklet_t
    ty = y0 + lay.stack_h + 32
    heads = ("", "start", "stop", "saved", "prev")
    for k, names in enumerate([heads] + [table_row(states[n]) for n in lay.names if n in states]):
        fill = GREY if k == 0 else colour[names[0]]
        for x, cell, anchor in zip(TABLE_X, names, ("start", "start", "start", "end", "start")):
            attrs = {"font_family": MONO, "font_size": "10", "fill": fill, "text_anchor": anchor}
            svg.text(ox + x, ty + k * LINE_H, cell, **attrs)


def table_row(st: Dict[str, Any]) -> Tuple[str, str, str, str, str]:
    if st["new"]:
        start, stop = "-", "- (new)"
    elif st["dead"]:
        start, stop = "(dead)", hexaddr(st["stop"])
    else:
        start = "(running)" if st["running"] else hexaddr(st["start"])
        stop = hexaddr(st["stop"])
    return (st["name"], start, stop, str(st["saved"]), st["prev"] or "-")


def describe_slicing(index: int, shot: Dict[str, Any], runs: List[Tuple[Any, ...]]) -> str:
    parts = []
    for hi, lo, status, owner, label, _kind in runs:
        if status == "live":
            parts.append("%s (%#x to %#x)" % (label, lo, hi + UNIT))
        elif status == "abandoned":
            parts.append("abandoned bytes of the dead %s" % owner)
    heap = [
        "%s's copy of %d bytes" % (st["name"], st["saved"])
        for st in shot["stacklets"]
        if st["saved"]
    ]
    prevs = ["%s.prev is %s" % (st["name"], st["prev"]) for st in shot["stacklets"] if st["prev"]]
    return "Panel %d, %s: from high to low addresses the C stack holds %s; sp is %#x; %s%s." % (
        index + 1,
        shot["title"],
        ", ".join(parts) or "nothing",
        shot["sp"],
        "the heap holds " + " and ".join(heap) if heap else "nothing is on the heap",
        "; " + ", ".join(prevs) if prevs else "",
    )


def draw_threads(shots: List[Dict[str, Any]], columns: int) -> Tuple[str, int, str]:
    """The SVG of the reference backend's threads, one panel per snapshot."""
    names: List[str] = []
    for shot in shots:
        for name, _stack, _state in shot["threads"]:
            if name not in names:
                names.append(name)
    colour = colours_for(names)
    col_w, col_gap = 150, 14
    deepest = max(len(stack) for s in shots for _n, stack, _st in s["threads"]) + 1
    panel_w = len(names) * (col_w + col_gap) - col_gap
    stack_h = deepest * UH
    row_h = TITLE_H + 16 + stack_h + 40
    columns = max(1, min(columns, len(shots)))
    rows = (len(shots) + columns - 1) // columns
    width = int(8 + columns * panel_w + (columns - 1) * PANEL_GAP + 8)
    height = int(rows * row_h + (rows - 1) * ROW_GAP)
    svg = Svg()
    alt = []
    for index, shot in enumerate(shots):
        row, col = divmod(index, columns)
        ox = 8 + col * (panel_w + PANEL_GAP)
        oy = row * (row_h + ROW_GAP)
        y0 = oy + TITLE_H + 16
        svg.text(ox, oy + 14, shot["heading"], font_weight="bold", font_size="12")
        said = []
        for i, (name, stack, state) in enumerate(shot["threads"]):
            x, c = ox + i * (col_w + col_gap), colour[name]
            head = "%s: no thread yet" % name if state == "new" else "OS thread of %s" % name
            svg.text(x, y0 - 20, head, font_weight="bold", fill=c)
            own = "its own C stack" + ("" if name == "main" else " (1 MiB)")
            own = "started by its first switch" if state == "new" else own
            svg.text(x, y0 - 6, own, fill=GREY, font_size="10")
            svg.rect(x, y0, col_w, stack_h, "#ffffff", "#bbbbbb", stroke_dasharray="3 3")
            runs: List[List[Any]] = []
            for cell in stack:
                if runs and (runs[-1][0].label, runs[-1][0].kind) == (cell.label, cell.kind):
                    runs[-1][1] += 1
                else:
                    runs.append([cell, 1])
            yy = y0
            for cell, n in runs:
                svg.rect(x, yy, col_w, n * UH, tint(c, 0.5 if cell.kind == "regs" else 0.22), c)
                style = {"font_style": "italic"} if cell.kind == "regs" else {}
                svg.text(x + 5, yy + n * UH / 2 + 4, fit(cell.label, col_w - 8), **style)
                yy += n * UH
            if state == "running":
                svg.line(x - 3, yy, x + col_w + 3, yy, "#000000", stroke_width="2")
                svg.text(x + col_w - 4, yy + 13, "sp", font_weight="bold", text_anchor="end")
            status = {
                "running": "running",
                "parked": "parked: waits on _wake",
                "ended": "ended: its thread is gone",
                "new": "new: no thread yet",
            }[state]
            svg.text(x, y0 + stack_h + 15, status, fill=c)
            svg.text(
                x,
                y0 + stack_h + 29,
                "stack_saved() = 0",
                fill=GREY,
                font_size="10",
                font_family=MONO,
            )
            frames = ", ".join(cell.label for cell, _n in runs) or "nothing"
            said.append("the OS thread of %s, %s, holds %s" % (name, state, frames))
        alt.append(
            "Panel %d, %s: %s; nothing is copied to the heap."
            % (index + 1, shot["title"], "; ".join(said))
        )
    text = " ".join(alt)
    return svg.document(width, height, text), width, text


# --------------------------------------------------------------------------------------
# The directive
# --------------------------------------------------------------------------------------

#: Wider figures are scaled to the text width (and link to the full-size SVG).
MAX_NATURAL_WIDTH = 660


def model_choice(argument: str) -> str:
    return directives.choice(argument, ("slicing", "threads"))


class StackFigure(SphinxDirective):
    """``.. stack-figure::`` with a script as content; see the module docstring."""

    has_content = True
    option_spec = {
        "caption": directives.unchanged_required,
        "alt": directives.unchanged,
        "name": directives.unchanged,
        "model": model_choice,
        "columns": directives.positive_int,
    }

    def run(self) -> List[nodes.Node]:
        self.env.note_dependency(os.path.abspath(__file__))
        kind = self.options.get("model", "slicing")
        lines = [(self.content_offset + i + 1, text) for i, text in enumerate(self.content)]
        try:
            model = SlicingModel() if kind == "slicing" else ThreadModel()
            shots = run_script(lines, model)
        except FigureError as exc:
            raise self.error("stack-figure: %s" % exc)
        draw = draw_slicing if kind == "slicing" else draw_threads
        svg, width, description = draw(shots, self.options.get("columns", 2))

        digest = hashlib.sha1(svg.encode("utf-8")).hexdigest()[:16]
        outdir = os.path.join(str(self.env.doctreedir), "stackfigures")
        os.makedirs(outdir, exist_ok=True)
        path = os.path.join(outdir, "stack-%s.svg" % digest)
        if not os.path.exists(path):
            tmp = "%s.%d.tmp" % (path, os.getpid())
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(svg)
            os.replace(tmp, path)
        uri = "/" + os.path.relpath(path, str(self.env.srcdir)).replace(os.sep, "/")

        image = nodes.image(uri=uri, alt=self.options.get("alt", description))
        if width > MAX_NATURAL_WIDTH:
            image["width"] = "100%"
        figure = nodes.figure("", image, align="center")
        messages: List[nodes.Node] = []
        if "caption" in self.options:
            text = self.options["caption"]
            inline, messages = self.state.inline_text(text, self.lineno)
            figure += nodes.caption(text, "", *inline)
        self.add_name(figure)
        self.set_source_info(figure)
        return [figure] + messages


def setup(app: Sphinx) -> Dict[str, Any]:
    app.add_directive("stack-figure", StackFigure)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
