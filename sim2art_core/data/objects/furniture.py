"""Broader procedural furniture beyond the paper's 14 categories (issue 12): Kitchen, Cupboard, Appliance.

The paper's categories (storage.py, tables.py, ...) are frozen: their instances and the test split
built from them must not change. These families reuse the same cabinet grid (cabinet.py) but draw
from wider ranges, more handle shapes, recessed / proud fronts and plain lacquer finishes, so the
network sees front layouts and proportions that the six Storage categories do not cover.

==========  ==============================================================  ==========  ===================
family      layouts                                                         moving      size W / D / H m
==========  ==============================================================  ==========  ===================
Kitchen     a run of 1-3 base units under one countertop on a recessed      1-8 mixed   0.3-2.4 / 0.5-0.65
            plinth; each unit one of: oven (pull-down door over a drawer,               / 0.78-0.95
            control strip), dishwasher (full-height pull-down door), drawer
            stack of unequal heights, door (left / right), double door,
            drawer over door, open shelves
Cupboard    free-standing furniture in five size classes: bedside box,     1-8 mixed   0.35-1.6 / 0.3-0.65
            dresser, tall unit, 2 m wardrobe, wall unit (lift-up flaps);                / 0.4-2.1
            columns of doors hinged left / right, double and tall doors,
            drawers beside and under doors, unequal drawer stacks, open
            shelves, lift-up and pull-down flaps
Appliance   oven / cooker (pull-down door with a window, control knobs,    1-3 mixed   0.45-0.75 / 0.35-0.7
            optional drawer), dishwasher (pull-down door), fridge (tall                 / 0.28-2.0
            side-hinged door over a freezer door or drawers), microwave
            (side-hinged door with a window)
==========  ==============================================================  ==========  ===================

Every instance also draws a finish (``plain``: one uniform lacquer white / grey / muted colour and no
texture, the case where image flow has little to track; ``wood``; ``textured``: any bank texture),
front mounting (flush, recessed 4-15 mm, proud 0-20 mm), handle shape (seven styles, builder.py) and
plinth / legs. Plain fronts use no texture (``Link.texture = None``: the renderer shows the material
colour only).
"""

from __future__ import annotations

from sim2art_core.data.objects.builder import ALL_HANDLE_STYLES, METALS, PAINTS, WOODS, Builder
from sim2art_core.data.objects.cabinet import GAP, CabinetStyle, add_door, add_drawer, add_flap, build_carcass
from sim2art_core.data.objects.cabinet import build_front as _build_front
from sim2art_core.data.objects.model import ArticulatedObject
from sim2art_core.data.objects.storage import MAX_MOVING, _limit

#: Uniform lacquer colours of plain fronts (whites, greys, a few muted tones).
LACQUERS = (
    (0.95, 0.95, 0.93), (0.90, 0.90, 0.88), (0.82, 0.83, 0.84), (0.70, 0.71, 0.72), (0.55, 0.56, 0.57),
    (0.38, 0.39, 0.40), (0.22, 0.23, 0.24), (0.92, 0.89, 0.82), (0.60, 0.66, 0.62), (0.50, 0.58, 0.66),
)  # fmt: skip
STONES = ((0.85, 0.85, 0.83), (0.30, 0.30, 0.31), (0.62, 0.60, 0.57), (0.12, 0.12, 0.13), (0.75, 0.70, 0.62))
FINISHES = ("plain", "wood", "textured")
MOUNTINGS = ("flush", "recessed", "proud")
TEXTURES = ("noise", "grain", "speckle", "brushed", "fabric", "marble", "wood")
GLASS = (0.06, 0.07, 0.08, 1.0)


def furniture_style(b: Builder, finish: str | None = None) -> CabinetStyle:
    """A CabinetStyle with this module's wider draws: finish, handle shape, front mounting.

    Attributes added: ``finish`` (one of :data:`FINISHES`) and ``mounting`` (one of :data:`MOUNTINGS`).
    """
    style = CabinetStyle(b)
    style.finish = finish or b.choice(FINISHES)
    if style.finish == "plain":
        style.front_rgba, style.front_texture = b.colour(LACQUERS, jitter=0.015), None
        if b.chance(0.6):  # carcass in the same lacquer, or a contrasting plain one
            style.body_rgba, style.body_texture = style.front_rgba, None
        elif b.chance(0.5):
            style.body_rgba, style.body_texture = b.colour(LACQUERS, jitter=0.015), None
    elif style.finish == "wood":
        style.front_rgba, style.front_texture = b.colour(WOODS), b.choice(("wood", "grain"))
    else:
        style.front_rgba, style.front_texture = b.colour(b.choice((WOODS, PAINTS, LACQUERS))), b.choice(TEXTURES)
    style.handle_style = b.choice(ALL_HANDLE_STYLES)
    style.handle_rgba = b.colour(b.choice((METALS, LACQUERS)), jitter=0.03)
    style.mounting = b.choice(MOUNTINGS)
    if style.mounting == "recessed":
        style.front_offset = -b.uniform(0.004, 0.015)
    elif style.mounting == "proud":
        style.front_offset = b.uniform(0.0, 0.02)
    return style


def _door(b: Builder, width: float, col: int, ncols: int) -> str:
    """A door kind for a column: wide cells may get a double door; outer columns hinge outwards."""
    if width > 0.6 and b.chance(0.6):
        return "double_door"
    if ncols > 1 and col == 0:
        return "door_left"
    if ncols > 1 and col == ncols - 1:
        return "door_right"
    return b.choice(("door_left", "door_right"))


def _unequal_drawers(b: Builder, n: int, total: float = 1.0) -> list[tuple[float, str]]:
    hs = [b.uniform(0.5, 1.8) for _ in range(n)]
    s = sum(hs)
    return [(total * h / s, "drawer") for h in hs]


def _moving(columns) -> int:
    return sum(2 if k == "double_door" else k not in ("open", "panel") for _, cells in columns for _, k in cells)


def _ensure_moving(b: Builder, columns, W: float) -> None:
    """At most MAX_MOVING moving fronts, at least one."""
    _limit(columns)
    if _moving(columns) == 0:
        hf, _ = columns[0][1][0]
        columns[0][1][0] = (hf, "drawer" if b.chance(0.5) else _door(b, W / len(columns), 0, len(columns)))
    assert 1 <= _moving(columns) <= MAX_MOVING


def _plinth(b: Builder, H: float) -> tuple[float, bool]:
    kind = b.choice(("none", "recessed", "recessed", "legs"))
    if kind == "none":
        return 0.0, False
    return b.uniform(0.04, min(0.15, 0.2 * H)), kind == "legs"


# ---------------------------------------------------------------------------------------------- Kitchen
KITCHEN_UNITS = ("oven", "dishwasher", "drawers", "door", "double", "drawer_door", "open")


def _kitchen_unit(b: Builder, kind: str, w: float) -> list[tuple[float, str]]:
    if kind == "oven":
        return [(0.16, "drawer"), (0.70, "flap_down"), (0.14, "panel")]
    if kind == "dishwasher":
        return [(0.88, "flap_down"), (0.12, "panel")] if b.chance(0.5) else [(1.0, "flap_down")]
    if kind == "drawers":
        return _unequal_drawers(b, b.integer(2, 4))
    if kind == "door":
        return [(1.0, b.choice(("door_left", "door_right")))]
    if kind == "double":
        return [(1.0, "double_door" if w > 0.5 else b.choice(("door_left", "door_right")))]
    if kind == "drawer_door":
        dh = b.uniform(0.18, 0.3)
        return [(1.0 - dh, b.choice(("door_left", "door_right")) if w < 0.6 else "double_door"), (dh, "drawer")]
    return [(1.0, "open") for _ in range(b.integer(2, 3))]


def kitchen(seed: int) -> ArticulatedObject:
    b = Builder("Kitchen", seed)
    style = furniture_style(b)
    nunits = b.integer(1, 3)
    widths = [b.choice((0.3, 0.4, 0.45, 0.5, 0.6, 0.6, 0.8)) * b.uniform(0.97, 1.03) for _ in range(nunits)]
    W, D, H = sum(widths), b.uniform(0.5, 0.65), b.uniform(0.78, 0.95)
    kinds = [b.choice(KITCHEN_UNITS) for _ in widths]
    columns = [(w, _kitchen_unit(b, k, w)) for w, k in zip(widths, kinds, strict=True)]
    _ensure_moving(b, columns, W)
    ct = b.uniform(0.02, 0.045)  # countertop thickness
    plinth = b.uniform(0.07, 0.15)
    z0, z1 = build_carcass(b, W, D, H - ct, style, plinth=plinth, legs=False, top=True)
    over, side = b.uniform(0.01, 0.04), b.uniform(0.0, 0.02)
    b.box("body", (over / 2, 0.0, H - ct / 2), (D + over, W + 2 * side, ct), b.colour(b.choice((STONES, WOODS))))
    _build_front(b, W, D, z0, z1, style, columns, [0])
    return b.build()


# ---------------------------------------------------------------------------------------------- Cupboard
CUPBOARD_CLASSES = ("bedside", "dresser", "tall", "wardrobe", "wall")


def cupboard(seed: int) -> ArticulatedObject:
    b = Builder("Cupboard", seed)
    style = furniture_style(b)
    cls = b.choice(CUPBOARD_CLASSES)
    columns: list[tuple[float, list[tuple[float, str]]]] = []
    if cls == "bedside":
        W, D, H = b.uniform(0.35, 0.55), b.uniform(0.3, 0.45), b.uniform(0.4, 0.7)
        layout = b.choice(("drawers", "drawer_door", "shelf_drawer", "flap"))
        if layout == "drawers":
            cells = _unequal_drawers(b, b.integer(1, 3))
        elif layout == "drawer_door":
            cells = [(0.7, b.choice(("door_left", "door_right"))), (0.3, "drawer")]
        elif layout == "shelf_drawer":
            cells = [(0.5, "open"), (0.5, "drawer")] if b.chance(0.5) else [(0.5, "drawer"), (0.5, "open")]
        else:
            cells = [(0.5, "open"), (0.5, "flap_down")]
        columns = [(1.0, cells)]
    elif cls == "dresser":
        W, D, H = b.uniform(0.6, 1.3), b.uniform(0.35, 0.55), b.uniform(0.7, 1.1)
        ncols = b.integer(1, 3)
        for c in range(ncols):
            kind = b.choice(("drawers", "door", "door_drawer", "open"))
            wf = b.uniform(0.6, 1.4)
            if kind == "drawers":
                cells = _unequal_drawers(b, b.integer(2, 4))
            elif kind == "door":
                cells = [(1.0, _door(b, W * wf / ncols, c, ncols))]
            elif kind == "door_drawer":
                cells = [(0.75, _door(b, W * wf / ncols, c, ncols)), (0.25, "drawer")]
            else:
                cells = [(1.0, "open") for _ in range(b.integer(2, 3))]
            columns.append((wf, cells))
    elif cls == "tall":
        W, D, H = b.uniform(0.4, 0.7), b.uniform(0.35, 0.6), b.uniform(1.4, 2.0)
        nd = b.integer(0, 2)
        door = b.choice(("door_left", "door_right"))
        if b.chance(0.4):  # two doors stacked, the upper one shorter
            cells = [(0.14, "drawer")] * nd + [(0.55, door), (0.4, b.choice(("door_left", "door_right", "flap_up")))]
        else:
            cells = [(0.14, "drawer")] * nd + [(1.0, door)]
        columns = [(1.0, cells)]
    elif cls == "wardrobe":
        W, D, H = b.uniform(0.8, 1.6), b.uniform(0.5, 0.65), b.uniform(1.7, 2.1)
        ncols = 2 if W < 1.2 else b.integer(2, 3)
        for c in range(ncols):
            kind = b.choice(("tall_door", "tall_door", "drawers_under", "shelves"))
            if kind == "tall_door":
                cells = [(1.0, _door(b, W / ncols, c, ncols))]
            elif kind == "drawers_under":
                nd = b.integer(1, 3)
                cells = [(0.12, "drawer")] * nd + [(1.0 - 0.12 * nd, _door(b, W / ncols, c, ncols))]
            else:
                cells = [(1.0, "open") for _ in range(b.integer(3, 5))]
            columns.append((1.0, cells))
        if b.chance(0.4):  # a row of top boxes with lift-up flaps over every column
            columns = [(wf, [*cells, (0.18, "flap_up")]) for wf, cells in columns]
    else:  # wall unit (hung on a wall in a kitchen; stands on the floor here)
        W, D, H = b.uniform(0.5, 1.2), b.uniform(0.3, 0.4), b.uniform(0.35, 0.8)
        ncols = 1 if W < 0.8 else b.integer(1, 2)
        for c in range(ncols):
            kind = b.choice(("flap_up", "flap_up", "door", "flaps"))
            if kind == "flap_up":
                cells = [(1.0, "flap_up")]
            elif kind == "door":
                cells = [(1.0, _door(b, W / ncols, c, ncols))]
            else:
                cells = [(1.0, "flap_down"), (1.0, "flap_up")]
            columns.append((1.0, cells))
    _ensure_moving(b, columns, W)
    plinth, legs = _plinth(b, H) if cls != "wall" else (0.0, False)
    overhang = b.uniform(0.0, 0.03) if b.chance(0.4) else 0.0
    z0, z1 = build_carcass(b, W, D, H, style, plinth=plinth, legs=legs, top=True, overhang=overhang)
    _build_front(b, W, D, z0, z1, style, columns, [0])
    return b.build()


# ---------------------------------------------------------------------------------------------- Appliance
APPLIANCES = ("oven", "dishwasher", "fridge", "microwave")


def _window(b: Builder, link: str, y: float, z: float, w: float, h: float) -> None:
    """A dark glass pane on a front's outer face (x = 0 of the front's link frame)."""
    b.box(link, (0.002, y, z), (0.004, w, h), GLASS)


def _knobs(b: Builder, D: float, y0: float, y1: float, z: float, n: int, style: CabinetStyle) -> None:
    """Static control knobs on the body's front at height z between y0 and y1."""
    for k in range(n):
        y = y0 + (k + 0.5) * (y1 - y0) / n
        b.cylinder("body", (D / 2 + 0.01, y, z), 0.016, 0.02, style.handle_rgba, axis="x")


def appliance(seed: int) -> ArticulatedObject:
    b = Builder("Appliance", seed)
    kind = b.choice(APPLIANCES)
    style = furniture_style(b, finish="plain" if b.chance(0.7) else "textured")
    if b.chance(0.5):  # stainless steel
        style.front_rgba, style.front_texture = b.colour(METALS[:2], jitter=0.03), "brushed"
    style.handle_style = b.choice(("rail", "bar", "pull", "recess"))
    style.front_offset = b.uniform(0.0, 0.015)
    counter = [0]
    if kind == "microwave":
        W, D, H = b.uniform(0.45, 0.6), b.uniform(0.35, 0.45), b.uniform(0.28, 0.36)
        z0, z1 = build_carcass(b, W, D, H, style, plinth=b.uniform(0.01, 0.02), legs=True)
        t = style.panel
        panel_w = b.uniform(0.1, 0.14)
        y_hinge = -W / 2 + t + GAP
        dw, dh = W - 2 * t - panel_w - 2 * GAP, z1 - z0 - 2 * GAP
        b.box("body", (D / 2 - 0.005, W / 2 - t - panel_w / 2, (z0 + z1) / 2), (0.01, panel_w, z1 - z0), GLASS)
        add_door(b, D, y_hinge, (z0 + z1) / 2, dw, dh, -1, style, counter)
        _window(b, f"door_{counter[0]}", 0.45 * dw, 0.0, 0.6 * dw, 0.6 * dh)
        return b.build()
    if kind == "fridge":
        W, D, H = b.uniform(0.55, 0.75), b.uniform(0.55, 0.7), b.uniform(1.4, 2.0)
        layout = b.choice(("single", "freezer_door", "freezer_drawers"))
        side = b.choice(("door_left", "door_right"))
        if layout == "single":
            cells = [(1.0, side)]
        elif layout == "freezer_door":
            cells = [(0.35, side), (0.65, side)]
        else:
            cells = _unequal_drawers(b, b.integer(1, 2), 0.35) + [(0.65, side)]
        z0, z1 = build_carcass(b, W, D, H, style, plinth=b.uniform(0.02, 0.06), legs=False)
        _build_front(b, W, D, z0, z1, style, [(1.0, cells)], counter)
        return b.build()
    # oven / dishwasher: a pull-down door under a control strip, the oven with a window and maybe a drawer
    W, D, H = b.uniform(0.45, 0.65), b.uniform(0.5, 0.65), b.uniform(0.55, 0.9)
    z0, z1 = build_carcass(b, W, D, H, style, plinth=b.uniform(0.03, 0.1), legs=b.chance(0.3))
    t = style.panel
    strip = b.uniform(0.06, 0.12)
    y0, y1 = -W / 2 + t, W / 2 - t
    b.box("body", (D / 2 - 0.01, 0.0, z1 - strip / 2), (0.02, y1 - y0, strip), style.front_rgba)
    _knobs(b, D, y0, y1, z1 - strip / 2, b.integer(2, 5) if kind == "oven" else b.integer(0, 2), style)
    zd = z0
    if kind == "oven" and b.chance(0.5):
        dh = b.uniform(0.1, 0.16)
        add_drawer(b, D, 0.0, z0 + dh / 2, y1 - y0, dh, style, counter)
        zd = z0 + dh
    w, h = y1 - y0 - 2 * GAP, z1 - strip - zd - 2 * GAP
    add_flap(b, D, 0.0, zd + GAP, w, h, True, style, counter)
    if kind == "oven":
        _window(b, f"flap_{counter[0]}", 0.0, 0.45 * h, 0.7 * w, 0.5 * h)
    return b.build()


#: The broader families' generators, by category name (sim2art_core.data.sequence.BROAD_CATEGORIES).
FURNITURE_GENERATORS = {"Kitchen": kitchen, "Cupboard": cupboard, "Appliance": appliance}

__all__ = ["FINISHES", "FURNITURE_GENERATORS", "LACQUERS", "appliance", "cupboard", "furniture_style", "kitchen"]
