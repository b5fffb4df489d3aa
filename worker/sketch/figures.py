"""How each thing looks: a few flat parts in the unit box of the thing (u across, v down,
v = 1 its base), drawn with Pillow onto a transparent layer.

A part is (shape, colour role, numbers): `r` a rectangle (u0, v0, u1, v1), `e` an ellipse
in that box, `p` a polygon (u, v pairs), `l` a line (width as a share of the box width,
then u, v pairs). Roles: `m` the thing's colour (the prompt's, when it names one), `d` a
darker and `l` a lighter shade of it, `k` near black, `w` warm window light, or a hex code.
"""

from __future__ import annotations

from PIL import ImageDraw

from worker.sketch.palette import RGB, _hex, mix, shade

Part = tuple[str, str, tuple[float, ...]]


def _parts(spec: str) -> list[Part]:
    """'r m 0 0 1 1; e d 0 0 .5 .5' -> parts (a compact table is easier to read)."""
    out = []
    for chunk in spec.split(";"):
        shape, role, *nums = chunk.split()
        out.append((shape, role, tuple(float(n) for n in nums)))
    return out


FIGURES: dict[str, list[Part]] = {
    name: _parts(spec)
    for name, spec in {
        "sun": "e m 0 0 1 1",
        "moon": "e m 0 0 1 1; e d .55 .25 .75 .45; e d .25 .55 .4 .7",
        "star": "p m .5 0 .62 .38 1 .5 .62 .62 .5 1 .38 .62 0 .5 .38 .38",
        "cloud": "e m 0 .35 .5 1; e m .25 0 .75 .9; e m .5 .3 1 1; e l .3 .1 .6 .5",
        "bird": "l m .12 0 .4 .5 .9 1 .4",
        "mountain": "p m 0 1 .5 0 1 1; p d .5 0 1 1 .62 1; p #f4f6fa .38 .24 .5 0 .62 .24 .5 .3",
        "lighthouse": "p m .25 1 .75 1 .62 .22 .38 .22; p #c8342a .3 .82 .7 .82 .67 .68 .33 .68;"
        " p #c8342a .34 .55 .66 .55 .64 .42 .36 .42; r w .38 .1 .62 .22; p #c8342a .32 .11 .68 .11"
        " .5 0; r k .46 .86 .54 1",
        "house": "r m .1 .42 .9 1; p #8a3a2a 0 .44 1 .44 .5 0; r d .42 .66 .58 1;"
        " r w .18 .55 .34 .7; r w .66 .55 .82 .7",
        "barn": "r m .05 .35 .95 1; p d 0 .38 1 .38 .8 0 .2 0; r #f0ece0 .35 .55 .65 1;"
        " r d .4 .6 .6 1",
        "tree": "r #5a3a22 .42 .55 .58 1; e m .05 0 .95 .7; e l .22 .1 .55 .4",
        "cat": "e m .1 .45 .75 1; e m .5 .18 .92 .6; p m .53 .3 .58 .02 .7 .22;"
        " p m .75 .22 .88 .02 .9 .32; l m .08 .15 .8 0 .3; e w .6 .32 .68 .4; e w .76 .32 .84 .4",
        "flower": "l #3f7f3f .08 .5 1 .5 .45; e #4f8f3f .5 .62 .8 .78; e m .15 .05 .85 .55;"
        " e #f2c21e .38 .2 .62 .42",
        "rose": "l #2f6f3f .08 .5 1 .5 .45; e #3f7f3f .1 .6 .48 .76; e m .12 .02 .88 .5;"
        " e d .3 .12 .7 .4; e m .4 .18 .6 .32",
        "sunflower": "l #3f7f2f .08 .5 1 .5 .3; e #4f8f3f .1 .55 .48 .7; e #4f8f3f .52 .45 .92 .6;"
        " e m 0 0 1 .42; e #5a3a1a .27 .09 .73 .33",
        "person": "e #e0b090 .3 0 .7 .18; p m .18 .88 .82 .88 .66 .2 .34 .2; r d .3 .84 .46 1;"
        " r d .54 .84 .7 1",
        "dog": "e m .12 .3 .78 .72; e m .62 .08 .98 .48; e d .68 .12 .8 .42; r d .2 .6 .3 1;"
        " r d .6 .6 .7 1; l m .06 .15 .35 0 .1; e k .86 .22 .92 .28",
        "horse": "e m .12 .25 .8 .62; p m .64 .38 .82 .45 .92 .06 .8 0; e m .8 0 1 .2;"
        " r d .2 .5 .27 1; r d .32 .5 .39 1; r d .62 .5 .69 1; r d .72 .5 .79 1;"
        " l d .04 .13 .35 .02 .8",
        "deer": "e m .12 .3 .8 .62; p m .66 .4 .82 .45 .9 .14 .8 .1; e m .78 .06 .98 .24;"
        " r d .2 .52 .26 1; r d .32 .52 .38 1; r d .64 .52 .7 1; r d .74 .52 .8 1;"
        " l #5a3a22 .03 .84 .08 .76 0 .7 .02; l #5a3a22 .03 .9 .08 .98 0 1 .04",
        "cow": "r m .12 .28 .82 .66; e m .74 .12 1 .44; r k .22 .6 .3 1; r k .34 .6 .42 1;"
        " r k .62 .6 .7 1; r k .72 .6 .8 1; e k .3 .34 .5 .52; e k .56 .44 .7 .62",
        "sheep": "e m .08 .15 .86 .78; e m .1 .05 .4 .4; e m .5 .05 .8 .4; e k .72 .2 1 .55;"
        " r k .22 .7 .3 1; r k .62 .7 .7 1",
        "fox": "e m .1 .25 .45 .6; e #f6f0e8 0 .3 .12 .5; e m .3 .35 .78 .78;"
        " p m .68 .2 1 .45 .7 .62; p m .7 .25 .74 0 .82 .22; r k .38 .7 .45 1; r k .64 .7 .71 1",
        "rabbit": "e m .1 .42 .78 1; e m .48 .25 .88 .62; e m .54 0 .64 .38; e m .7 0 .8 .38;"
        " e #f6f6f2 .02 .6 .2 .8; e k .74 .38 .8 .44",
        "owl": "e m .1 .15 .9 1; p m .12 .3 .25 0 .4 .22; p m .6 .22 .75 0 .88 .3;"
        " e l .25 .45 .75 .95; e w .18 .22 .48 .5; e w .52 .22 .82 .5; e k .28 .3 .38 .42;"
        " e k .62 .3 .72 .42; p #e0a030 .45 .45 .55 .45 .5 .58",
        "castle": "r m .12 .35 .88 1; r m 0 .15 .24 1; r m .76 .15 1 1; p d -.02 .16 .12 -.05"
        " .26 .16; p d .74 .16 .88 -.05 1.02 .16; r m .12 .28 .2 .36; r m .3 .28 .38 .36;"
        " r m .48 .28 .56 .36; r m .66 .28 .74 .36; e k .4 .62 .6 .82; r k .4 .72 .6 1;"
        " r w .08 .4 .15 .5; r w .84 .4 .91 .5",
        "church": "r m .05 .5 .75 1; p d 0 .52 .8 .52 .4 .3; r m .7 .2 .95 1;"
        " p d .68 .22 .97 .22 .825 0; r k .33 .75 .47 1; r w .76 .32 .89 .45",
        "windmill": "p m .35 1 .65 1 .58 .36 .42 .36; e d .4 .26 .6 .42;"
        " l #6a4a30 .08 .1 0 .9 .68; l #6a4a30 .08 .9 0 .1 .68; r k .45 .82 .55 1",
        "car": "r m 0 .4 1 .8; p m .2 .42 .8 .42 .68 .05 .32 .05;"
        " p l .28 .4 .72 .4 .64 .12 .36 .12;"
        " e k .1 .6 .3 1; e k .7 .6 .9 1",
        "train": "r m 0 .2 .32 .85; r m .34 .3 .66 .85; r m .68 .3 1 .85; r k .04 0 .12 .22;"
        " r w .04 .3 .26 .5; r w .4 .4 .6 .55; r w .74 .4 .94 .55; e k .02 .75 .12 1;"
        " e k .2 .75 .3 1; e k .4 .75 .5 1; e k .54 .75 .64 1; e k .72 .75 .82 1;"
        " e k .88 .75 .98 1",
        "fence": "r m 0 .3 1 .42; r m 0 .62 1 .74; r d .02 0 .08 1; r d .27 0 .33 1;"
        " r d .52 0 .58 1; r d .77 0 .83 1; r d .92 0 .98 1",
        "tower": "r m .25 .15 .75 1; r m .18 .06 .82 .17; r d .2 0 .3 .08; r d .45 0 .55 .08;"
        " r d .7 0 .8 .08; r k .42 .3 .58 .4; r k .42 .6 .58 .7; r k .4 .86 .6 1",
        "tent": "p m 0 1 1 1 .5 0; p d .5 0 1 1 .7 1; p k .4 1 .6 1 .5 .45",
        "fire": "l #5a3a22 .12 .05 .95 .95 .75; l #5a3a22 .12 .05 .75 .95 .95;"
        " p m .15 .85 .85 .85 .75 .3 .6 .5 .5 0 .4 .45 .25 .25; p #f8e060 .32 .85 .68 .85 .6 .45"
        " .5 .3 .4 .5",
        "lantern": "l k .06 .35 .1 .5 0 .65 .1; p k .25 .22 .75 .22 .5 .1; r m .25 .22 .75 .92;"
        " r #fff0a0 .35 .32 .65 .82; r k .2 .9 .8 1",
        "bridge": "r m 0 .2 1 .36; r d 0 .05 1 .1; r d .05 .05 .08 .2; r d .92 .05 .95 .2;"
        " p m .1 .36 .22 .36 .22 1 .1 1; p m .78 .36 .9 .36 .9 1 .78 1; r d .45 .36 .55 1",
        "bench": "r m 0 .2 1 .35; r m 0 .5 1 .62; r k .06 .62 .12 1; r k .88 .62 .94 1",
        "rock": "e m 0 .1 1 1; e l .2 .2 .55 .5",
        "mushroom": "r #f0e8d8 .38 .45 .62 1; p m 0 .5 .15 .12 .5 0 .85 .12 1 .5;"
        " e #f6f6f2 .25 .2 .38 .32; e #f6f6f2 .6 .15 .72 .27",
        "snowman": "e m .1 .45 1 1; e m .2 .15 .8 .6; e m .3 0 .7 .3; e k .4 .1 .46 .16;"
        " e k .54 .1 .6 .16; p #ee7a1f .5 .16 .5 .22 .68 .2",
        "pyramid": "p m 0 1 .5 0 1 1; p d .5 0 1 1 .6 1",
        "boat": "p m 0 .62 1 .62 .82 1 .18 1; l k .04 .5 .64 .5 .02; p #f4f0e0 .53 .05 .53 .56"
        " .88 .56; p #e8e0d0 .47 .12 .47 .56 .18 .56",
        "ship": "p m 0 .66 1 .66 .88 1 .12 1; r d 0 .62 1 .68; l k .02 .25 .66 .25 .05;"
        " l k .02 .5 .66 .5 0; l k .02 .75 .66 .75 .1; r #f4f0e0 .13 .12 .37 .55;"
        " r #f4f0e0 .38 .05 .62 .55; r #f4f0e0 .63 .15 .87 .55",
        "fish": "e m .18 .2 .9 .8; p m .28 .5 0 .12 0 .88; e k .72 .38 .78 .46;"
        " l d .03 .55 .25 .55 .75",
        "whale": "e m 0 .3 .86 1; p m .75 .6 1 .3 .94 .55 1 .85; e l .1 .7 .7 1;"
        " e k .16 .55 .21 .62; l #d8e8f4 .03 .35 .3 .3 0; l #d8e8f4 .03 .35 .3 .4 .02",
        "swan": "e m .1 .5 .9 1; l m .1 .8 .7 .75 .2 .7 .05; e m .62 0 .82 .14;"
        " p #ee7a1f .8 .04 .95 .08 .8 .11",
    }.items()
}


def colours_for(main: RGB) -> dict[str, RGB]:
    return {
        "m": main,
        "d": shade(main, 0.62),
        "l": mix(main, (1.0, 1.0, 1.0), 0.4),
        "k": (0.1, 0.09, 0.1),
        "w": (1.0, 0.86, 0.45),
    }


def draw_figure(
    draw: ImageDraw.ImageDraw,
    name: str,
    box: tuple[float, float, float, float],
    roles: dict[str, RGB],
    alpha: int = 255,
    flip: bool = False,
) -> None:
    """Draw `name` into `box` (x0, y0, x1, y1 in layer pixels), mirrored when `flip`."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0

    def pt(u: float, v: float) -> tuple[float, float]:
        return (x0 + (1 - u if flip else u) * bw, y0 + v * bh)

    for shape, role, nums in FIGURES[name]:
        rgb = _hex(role) if role.startswith("#") else roles[role]
        fill = (round(rgb[0] * 255), round(rgb[1] * 255), round(rgb[2] * 255), alpha)
        if shape == "l":
            width = max(1, round(nums[0] * bw))
            pts = [pt(nums[i], nums[i + 1]) for i in range(1, len(nums) - 1, 2)]
            draw.line(pts, fill=fill, width=width, joint="curve")
            continue
        pts = [pt(nums[i], nums[i + 1]) for i in range(0, len(nums) - 1, 2)]
        if shape == "p":
            draw.polygon(pts, fill=fill)
            continue
        (ax, ay), (bx, by) = pts
        rect = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
        if shape == "r":
            draw.rectangle(rect, fill=fill)
        else:
            draw.ellipse(rect, fill=fill)
