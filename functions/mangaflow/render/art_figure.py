"""Figures of the panel art: one consistent, recognisable manga figure per character (proportions
from `figure`, colours from `palette`), framed by the camera and posed by the staging."""
from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageDraw

from mangaflow.render.art_tones import CanvasDraw
from mangaflow.render.art_scene import HEAD_SHARE, Placement
from mangaflow.render.palette import INK, PAPER, RGB, FigureColours, figure_colours, grey, luminance, mix, shade, stable_int

HAIR_STYLES = ("long", "short", "ponytail", "spiky", "bob", "bald", "bun")
BUILDS = ("slim", "average", "broad", "robot", "small")
AGES = ("child", "teen", "adult", "elder")

# Figure height in head heights, per age (manga proportions, a little stylised).
_HEADS = {"child": 4.3, "teen": 6.0, "adult": 6.5, "elder": 6.1}
# Half the shoulder width in head heights, per build.
_SHOULDER = {"slim": 0.62, "average": 0.72, "broad": 0.92, "robot": 0.86, "small": 0.56}
# Eye size per style: shojo and kodomo eyes are big and bright, seinen ones narrow.
_EYE_SCALE = {"shojo": 1.2, "josei": 1.05, "kodomo": 1.25, "shonen": 0.95, "seinen": 0.8}
_SILHOUETTE: RGB = (96, 98, 108)


@dataclass(frozen=True)
class Figure:
    """The resolved look of one character: what stays the same in every panel."""

    character_id: str
    hair_style: str
    build: str
    age: str
    height: float
    outfit_cut: str  # "jacket" | "tunic" | "shirt": varied per character id so outfits differ
    colours: FigureColours

    @property
    def robot(self) -> bool:
        return self.build == "robot"


def resolve_figure(character: dict) -> Figure:
    """A Figure from a phase-2 character; missing or unknown fields get a stable per-id default."""
    character = character if isinstance(character, dict) else {}
    figure = character.get("figure") if isinstance(character.get("figure"), dict) else {}
    character_id = str(character.get("id") or character.get("name") or "figure")
    seed = stable_int("figure", character_id)
    build = figure.get("build") if figure.get("build") in BUILDS else BUILDS[seed % 3]
    hair = figure.get("hair_style") if figure.get("hair_style") in HAIR_STYLES else HAIR_STYLES[(seed >> 4) % 5]
    age = figure.get("age") if figure.get("age") in AGES else ("adult" if build == "robot" else "teen")
    height = figure.get("height")
    height = max(0.75, min(1.15, float(height))) if isinstance(height, (int, float)) and not isinstance(height, bool) else 1.0
    cut = ("jacket", "tunic", "shirt")[(seed >> 12) % 3]
    return Figure(character_id, hair, build, age, height, cut, figure_colours(character, robot=build == "robot"))


@dataclass(frozen=True)
class Body:
    """Key points of a posed figure in canvas pixels (head centre, shoulder, waist, hip, feet)."""

    hx: float
    hy: float
    head: float  # head height
    face: int  # +1 looks right, -1 looks left
    shoulder_y: float
    waist_y: float
    hip_y: float
    knee_y: float
    feet_y: float
    shoulder: float  # half widths
    waist: float
    hip: float
    line: int


def pose(figure: Figure, placement: Placement, canvas_size: tuple[int, int], camera: str, style: str) -> Body:
    w, h = canvas_size
    head = HEAD_SHARE.get(camera, HEAD_SHARE["medium"]) * h * placement.scale
    heads = _HEADS[figure.age] * figure.height * (0.85 if style == "kodomo" else 1.0)
    if figure.age == "child":
        head *= 0.92
    # Looking down shortens the body under a big head; looking up stretches legs under a small head.
    body_k = {"birds_eye": 0.62, "worms_eye": 1.22}.get(camera, 1.0)
    if camera == "worms_eye":
        head *= 0.88
    if camera in ("close_up", "bust"):
        # A close shot must still read as a face: at most about as wide as the panel (so both eyes
        # and most of the cheeks are in) and with the mouth above the bottom edge; only the crown may be cut.
        head = min(head, w * 1.05, max(h * 0.2, (h * 0.97 - placement.y * h) / 0.42))
    hx, hy = placement.x * w, placement.y * h
    length = (heads - 1.0) * head * body_k
    chin = hy + head * 0.5
    shoulder_y = chin + head * 0.1 * body_k
    waist_y = shoulder_y + length * 0.3
    hip_y = waist_y + length * 0.12
    feet_y = chin + length
    knee_y = hip_y + (feet_y - hip_y) * 0.5
    shoulder = head * _SHOULDER[figure.build] * (0.85 if figure.age == "child" else 1.0)
    waist = shoulder * (0.85 if figure.build in ("broad", "robot") else 0.68)
    hip = shoulder * (0.86 if figure.build != "broad" else 0.78)
    line = int(max(2, min(h / 240, head * 0.05)))
    return Body(hx, hy, head, 1 if placement.facing == "right" else -1, shoulder_y, waist_y, hip_y, knee_y, feet_y,
                shoulder, waist, hip, line)


class _Painter:
    """Draws one figure; `silhouette` paints every part in one flat tone (the simplified fallback)."""

    def __init__(self, canvas: Image.Image, figure: Figure, body: Body, expression: str, style: str, silhouette: bool):
        self.canvas = canvas
        self.draw = CanvasDraw(canvas)
        self.f = figure
        self.b = body
        self.expression = expression
        self.style = style
        self.silhouette = silhouette

    def c(self, colour: RGB) -> RGB:
        return _SILHOUETTE if self.silhouette else colour

    @property
    def ink(self) -> RGB:
        return _SILHOUETTE if self.silhouette else INK

    # -- strokes with an ink edge: a wide ink line under a narrower coloured one
    def stroke(self, points: list[tuple[float, float]], width: float, colour: RGB) -> None:
        lw = self.b.line
        self.draw.line(points, fill=self.ink, width=int(width + 2 * lw), joint="curve")
        self.draw.line(points, fill=self.c(colour), width=int(width), joint="curve")
        for x, y in (points[0], points[-1]):
            r = width / 2
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=self.c(colour))

    def blob(self, box: tuple[float, float, float, float], colour: RGB) -> None:
        self.draw.ellipse(box, fill=self.c(colour), outline=self.ink, width=self.b.line)

    def poly(self, points: list[tuple[float, float]], colour: RGB) -> None:
        self.draw.polygon(points, fill=self.c(colour), outline=self.ink, width=self.b.line)

    # -- the whole figure, back to front
    def paint(self) -> None:
        b = self.b
        if b.head * 0.5 + b.hy < 0 or b.hy - b.head > self.canvas.height * 2:
            return
        self.ground_shadow()
        if not self.f.robot:
            self.back_hair()
        self.legs()
        self.arms(back=True)
        self.torso()
        self.arms(back=False)
        if self.f.robot:
            self.robot_head()
        else:
            self.head()
            if not self.silhouette:
                self.face()
            self.front_hair()
            if not self.silhouette:
                self.brows()

    def ground_shadow(self) -> None:
        b = self.b
        if b.feet_y >= self.canvas.height - 2 or b.feet_y < 0:
            return
        x = min(self.canvas.width - 1, max(0, int(b.hx)))
        under = self.canvas.getpixel((x, int(b.feet_y)))
        colour = shade(under[:3] if isinstance(under, tuple) else (under, under, under), 0.3)
        self.draw.ellipse((b.hx - b.shoulder * 1.5, b.feet_y - b.head * 0.12, b.hx + b.shoulder * 1.5, b.feet_y + b.head * 0.14),
                          fill=colour)

    def legs(self) -> None:
        b, f = self.b, self.f
        width = b.head * (0.3 if f.build != "broad" else 0.36) * (0.85 if f.build == "slim" else 1.0)
        legs_colour = grey(0.55) if f.robot else f.colours.legs
        for side in (-1, 1):
            top = (b.hx + side * b.hip * 0.5, b.hip_y)
            knee = (b.hx + side * b.hip * 0.55, b.knee_y)
            foot = (b.hx + side * b.hip * 0.6, b.feet_y - width * 0.3)
            self.stroke([top, knee, foot], width, legs_colour)
            if f.robot:
                r = width * 0.55
                self.blob((knee[0] - r, knee[1] - r, knee[0] + r, knee[1] + r), f.colours.accent)
            shoe = (foot[0] - width * 0.6 + b.face * width * 0.25, foot[1] - width * 0.2,
                    foot[0] + width * 0.6 + b.face * width * 0.45, foot[1] + width * 0.45)
            self.blob(shoe, grey(0.75) if not f.robot else grey(0.6))

    def torso(self) -> None:
        b, f, col = self.b, self.f, self.f.colours
        neck_w = b.head * (0.16 if f.robot else 0.15)
        self.poly([(b.hx - neck_w, b.hy + b.head * 0.3), (b.hx + neck_w, b.hy + b.head * 0.3),
                   (b.hx + neck_w, b.shoulder_y + b.line), (b.hx - neck_w, b.shoulder_y + b.line)],
                  grey(0.5) if f.robot else col.skin_shadow)
        bottom = b.hip_y + (b.knee_y - b.hip_y) * (0.75 if f.outfit_cut == "tunic" else 0.12)
        flare = b.hip * (1.25 if f.outfit_cut == "tunic" else 1.0)
        outline = [(b.hx - b.shoulder, b.shoulder_y + b.head * 0.06), (b.hx - b.shoulder * 0.8, b.shoulder_y - b.head * 0.04),
                   (b.hx + b.shoulder * 0.8, b.shoulder_y - b.head * 0.04), (b.hx + b.shoulder, b.shoulder_y + b.head * 0.06),
                   (b.hx + b.waist, b.waist_y), (b.hx + flare, bottom), (b.hx - flare, bottom), (b.hx - b.waist, b.waist_y)]
        if f.robot:
            self.draw.rounded_rectangle((b.hx - b.shoulder, b.shoulder_y - b.head * 0.05, b.hx + b.shoulder, bottom),
                                        radius=b.head * 0.15, fill=self.c(col.outfit), outline=self.ink, width=b.line)
        else:
            self.poly(outline, col.outfit)
        if self.silhouette:
            return
        # shadow side: the half turned away from the viewer's light (light comes from the facing side)
        away = -b.face
        shadow = [(b.hx + away * b.shoulder * 0.95, b.shoulder_y + b.head * 0.08), (b.hx + away * b.shoulder * 0.55, b.shoulder_y + b.head * 0.1),
                  (b.hx + away * b.waist * 0.55, b.waist_y), (b.hx + away * flare * 0.6, bottom - b.line),
                  (b.hx + away * flare * 0.97, bottom - b.line), (b.hx + away * b.waist * 0.97, b.waist_y)]
        self.draw.polygon(shadow, fill=col.outfit_shadow)
        if f.robot:
            # chest panel with indicator lights in the accent colour
            pw, ph = b.shoulder * 0.55, (b.waist_y - b.shoulder_y) * 0.45
            top = b.shoulder_y + b.head * 0.2
            self.draw.rounded_rectangle((b.hx - pw, top, b.hx + pw, top + ph), radius=b.line * 2, fill=grey(0.3),
                                        outline=INK, width=b.line)
            for i in range(3):
                r = pw * 0.14
                x = b.hx - pw * 0.55 + i * pw * 0.55
                self.draw.ellipse((x - r, top + ph * 0.5 - r, x + r, top + ph * 0.5 + r), fill=col.accent)
            return
        collar = b.head * 0.22
        if f.outfit_cut == "shirt":
            # open collar and a tie in the accent colour
            self.poly([(b.hx - collar, b.shoulder_y - b.head * 0.03), (b.hx, b.shoulder_y + collar * 1.1),
                       (b.hx + collar, b.shoulder_y - b.head * 0.03)], PAPER)
            self.poly([(b.hx - collar * 0.25, b.shoulder_y + collar * 0.5), (b.hx + collar * 0.25, b.shoulder_y + collar * 0.5),
                       (b.hx + collar * 0.35, b.waist_y - b.head * 0.3), (b.hx, b.waist_y - b.head * 0.15),
                       (b.hx - collar * 0.35, b.waist_y - b.head * 0.3)], col.accent)
        elif f.outfit_cut == "jacket":
            self.draw.line((b.hx, b.shoulder_y + collar * 0.5, b.hx, b.hip_y), fill=INK, width=b.line)
            for side in (-1, 1):
                self.poly([(b.hx + side * collar, b.shoulder_y - b.head * 0.03), (b.hx + side * collar * 0.1, b.shoulder_y + collar * 1.6),
                           (b.hx + side * collar * 1.5, b.shoulder_y + collar * 0.6)], col.accent)
        else:
            # tunic: a round neckline and a belt in the accent colour
            self.draw.chord((b.hx - collar, b.shoulder_y - collar * 0.7, b.hx + collar, b.shoulder_y + collar * 0.7), 0, 180,
                            fill=col.skin_shadow, outline=INK, width=b.line)
            self.draw.rectangle((b.hx - b.waist * 1.02, b.waist_y - b.head * 0.05, b.hx + b.waist * 1.02, b.waist_y + b.head * 0.07),
                                fill=col.accent, outline=INK, width=b.line)

    def arms(self, back: bool) -> None:
        b, f, col = self.b, self.f, self.f.colours
        width = b.head * (0.24 if f.build != "broad" else 0.3)
        arm_len = (b.hip_y - b.shoulder_y) * 1.15
        # The arm on the side the figure faces is nearer the viewer, so it is drawn after the torso.
        side = -b.face if back else b.face
        sx, sy = b.hx + side * b.shoulder * 0.92, b.shoulder_y + width * 0.45
        pose = self.expression
        if pose == "surprised":
            elbow = (sx + side * arm_len * 0.3, sy + arm_len * 0.35)
            hand = (b.hx + side * b.shoulder * 0.7, sy - arm_len * 0.05)
        elif pose in ("determined", "angry") and not back:
            elbow = (sx + side * arm_len * 0.2, sy + arm_len * 0.5)
            hand = (b.hx + side * b.shoulder * 0.35, sy + arm_len * 0.25)
        elif pose == "smile" and back:
            elbow = (sx + side * arm_len * 0.35, sy + arm_len * 0.35)
            hand = (sx + side * arm_len * 0.55, sy - arm_len * 0.05)  # a small wave
        else:
            elbow = (sx + side * arm_len * 0.12, sy + arm_len * 0.48)
            hand = (sx + side * arm_len * 0.1, sy + arm_len * 0.92)
        sleeve = grey(0.55) if f.robot else col.outfit
        self.stroke([(sx, sy), elbow, hand], width, sleeve if not back else shade(sleeve, 0.12))
        r = width * 0.58
        hand_colour = col.accent if f.robot else col.skin
        self.blob((hand[0] - r, hand[1] - r, hand[0] + r, hand[1] + r), hand_colour)
        if f.robot:
            self.blob((elbow[0] - r * 0.8, elbow[1] - r * 0.8, elbow[0] + r * 0.8, elbow[1] + r * 0.8), col.accent)
        if f.age == "elder" and not back and not f.robot and pose not in ("surprised", "determined", "angry"):
            # a walking stick: the elder's silhouette reads from afar
            self.draw.line((hand[0], hand[1], hand[0] + side * b.head * 0.15, b.feet_y), fill=self.c((120, 90, 60)), width=int(b.line * 2.5))

    def head(self) -> None:
        b, col = self.b, self.f.colours
        hw = b.head * (0.47 if self.f.age != "child" else 0.5)
        ear_x = b.hx - b.face * hw * 0.85
        self.blob((ear_x - b.head * 0.08, b.hy - b.head * 0.02, ear_x + b.head * 0.08, b.hy + b.head * 0.18), col.skin)
        # a face shape with a soft chin: a circle-ish skull over a narrowing jaw
        lean = b.face * hw * 0.08
        jaw = [(b.hx - hw, b.hy - b.head * 0.05), (b.hx + hw, b.hy - b.head * 0.05), (b.hx + hw * 0.98, b.hy + b.head * 0.15),
               (b.hx + hw * 0.82 + lean, b.hy + b.head * 0.33), (b.hx + hw * 0.42 + lean, b.hy + b.head * 0.46),
               (b.hx + lean * 1.5, b.hy + b.head * 0.5), (b.hx - hw * 0.42 + lean, b.hy + b.head * 0.46),
               (b.hx - hw * 0.82 + lean, b.hy + b.head * 0.33), (b.hx - hw * 0.98, b.hy + b.head * 0.15)]
        self.draw.polygon(jaw, fill=self.c(col.skin), outline=self.ink, width=self.b.line)
        self.draw.ellipse((b.hx - hw, b.hy - b.head * 0.5, b.hx + hw, b.hy + b.head * 0.32), fill=self.c(col.skin))
        self.draw.arc((b.hx - hw, b.hy - b.head * 0.5, b.hx + hw, b.hy + b.head * 0.32), 150, 390, fill=self.ink, width=self.b.line)

    def eyes(self) -> tuple[float, float, float, float, tuple[float, float], int]:
        """Where the eyes sit: face centre x, eye line y, half eye width and height, both eye
        centres' x, and the face line width."""
        b = self.b
        unit = b.head
        fx = b.hx + b.face * unit * 0.06
        scale = _EYE_SCALE.get(self.style, 1.0) * (1.15 if self.f.age == "child" else 0.85 if self.f.age == "elder" else 1.0)
        return (fx, b.hy + unit * 0.08, unit * 0.12 * scale, unit * 0.17 * scale, (fx - unit * 0.19, fx + unit * 0.19),
                max(2, int(b.line * 1.1)))

    def face(self) -> None:
        b = self.b
        unit = b.head
        fx, eye_y, ew, eh, ex, lw = self.eyes()
        small = unit < 44
        iris = mix(self.f.colours.hair, INK, 0.45)
        expr = self.expression
        for i, x in enumerate(ex):
            # the eye further from the viewer is narrower: a cheap three-quarter view
            far = (i == 0 and b.face > 0) or (i == 1 and b.face < 0)
            w = ew * (0.8 if far else 1.0)
            if small:
                r = max(1.5, unit * 0.06)
                if expr == "smile":
                    self.draw.arc((x - r * 1.4, eye_y - r, x + r * 1.4, eye_y + r * 1.5), 200, 340, fill=INK, width=lw)
                else:
                    self.draw.ellipse((x - r * 0.8, eye_y - r, x + r * 0.8, eye_y + r), fill=INK)
                continue
            if expr == "smile":
                self.draw.arc((x - w, eye_y - eh * 0.6, x + w, eye_y + eh * 0.9), 200, 340, fill=INK, width=int(lw * 1.5))
            else:
                pupil = 0.55 if expr == "surprised" else 1.0
                self.draw.ellipse((x - w, eye_y - eh, x + w, eye_y + eh), fill=PAPER)
                self.draw.ellipse((x - w * 0.8 * pupil, eye_y - eh * 0.85 * pupil + eh * 0.1, x + w * 0.8 * pupil, eye_y + eh * 0.85 * pupil + eh * 0.1),
                                  fill=iris)
                self.draw.ellipse((x - w * 0.4 * pupil, eye_y - eh * 0.3 * pupil + eh * 0.1, x + w * 0.4 * pupil, eye_y + eh * 0.5 * pupil + eh * 0.1),
                                  fill=INK)
                hr = w * 0.32
                self.draw.ellipse((x - w * 0.35 - hr, eye_y - eh * 0.45 - hr, x - w * 0.35 + hr, eye_y - eh * 0.45 + hr), fill=PAPER)
                # upper lid: tilted by the expression (outer end down when sad, inner end down when angry)
                outer = 1 if x > fx else -1
                tilt = {"sad": 0.35, "angry": -0.35, "determined": -0.15}.get(expr, 0.0) * eh
                lid_y = eye_y - eh * (0.55 if expr == "determined" else 0.95)
                inner_pt = (x - outer * w * 1.1, lid_y - tilt * 0.5 if tilt else lid_y + eh * 0.1)
                outer_pt = (x + outer * w * 1.15, lid_y + tilt * 0.5 if tilt else lid_y + eh * 0.1)
                if expr == "determined":
                    self.draw.rectangle((x - w * 1.05, eye_y - eh * 1.05, x + w * 1.05, lid_y), fill=self.f.colours.skin)
                self.draw.line((inner_pt, (x, lid_y - (eh * 0.12 if not tilt else 0)), outer_pt), fill=INK, width=int(lw * 1.6), joint="curve")
            # the brows come after the fringe (brows()): drawn through the hair, as manga does
        if not small:
            nx = fx + b.face * unit * 0.05
            self.draw.line((nx, b.hy + unit * 0.2, nx + b.face * unit * 0.03, b.hy + unit * 0.24), fill=shade(self.f.colours.skin, 0.4), width=lw)
            if self.f.age == "elder":
                for x in ex:
                    self.draw.arc((x - ew, eye_y + eh * 0.9, x + ew, eye_y + eh * 1.6), 20, 160, fill=shade(self.f.colours.skin, 0.35), width=max(1, lw // 2))
        self.mouth(fx, b.hy + unit * 0.33, unit, small)
        if expr == "smile" and not small:
            blush = mix(self.f.colours.skin, (230, 110, 120), 0.6)
            for x in ex:
                outer = 1 if x > fx else -1
                for k in range(3):
                    bx = x + outer * ew * 0.2 + (k - 1) * ew * 0.45
                    self.draw.line((bx + ew * 0.15, eye_y + eh * 1.2, bx - ew * 0.15, eye_y + eh * 1.6), fill=blush, width=lw)
        if expr == "sad" and not small:
            tx, ty = ex[1 if b.face > 0 else 0] + ew * 0.3, eye_y + eh * 1.3
            self.draw.polygon([(tx, ty), (tx - ew * 0.3, ty + eh * 0.7), (tx + ew * 0.3, ty + eh * 0.7)], fill=(200, 224, 240))
            self.draw.ellipse((tx - ew * 0.3, ty + eh * 0.45, tx + ew * 0.3, ty + eh * 1.0), fill=(200, 224, 240), outline=INK, width=max(1, lw // 2))

    def brows(self) -> None:
        """Brows drawn over the fringe (seen through the hair, as manga does), so the expression
        reads however low the fringe falls."""
        if self.b.head < 44:
            return
        fx, eye_y, ew, eh, ex, lw = self.eyes()
        for i, x in enumerate(ex):
            far = (i == 0 and self.b.face > 0) or (i == 1 and self.b.face < 0)
            self._brow(x, fx, ew * (0.8 if far else 1.0), eye_y, eh, lw, halo=self.f.hair_style != "bald")

    def _brow(self, x: float, fx: float, w: float, eye_y: float, eh: float, lw: int, halo: bool) -> None:
        unit, expr = self.b.head, self.expression
        brow_y = eye_y - eh * 1.45 - (unit * 0.05 if expr == "surprised" else 0)
        outer = 1 if x > fx else -1
        inner_drop = {"angry": 0.07, "determined": 0.04, "sad": -0.05}.get(expr, 0.0) * unit
        points = (x - outer * w * 0.9, brow_y + inner_drop, x + outer * w * 1.1, brow_y - inner_drop * 0.3)
        brow = mix(self.f.colours.hair, INK, 0.5)
        width = int(lw * 1.8)
        if halo and luminance(self.f.colours.hair) < 100:
            # on dark hair a dark brow would vanish: a thin pale rim keeps it visible
            self.draw.line(points, fill=mix(self.f.colours.hair, PAPER, 0.6), width=width + 2 * self.b.line)
        self.draw.line(points, fill=brow, width=width)

    def mouth(self, x: float, y: float, unit: float, small: bool) -> None:
        expr, lw = self.expression, max(2, int(self.b.line * 1.1))
        mw = unit * (0.1 if small else 0.12)
        if expr == "smile":
            self.draw.chord((x - mw, y - mw * 0.6, x + mw, y + mw * 0.9), 0, 180, fill=(150, 60, 64), outline=INK, width=max(1, lw // 1))
        elif expr == "sad":
            self.draw.arc((x - mw * 0.8, y, x + mw * 0.8, y + mw), 200, 340, fill=INK, width=lw)
        elif expr == "angry":
            self.draw.polygon([(x - mw, y - mw * 0.3), (x + mw, y - mw * 0.1), (x + mw * 0.7, y + mw * 0.6), (x - mw * 0.7, y + mw * 0.5)],
                              fill=(120, 40, 44), outline=INK, width=lw)
            if not small:
                self.draw.line((x - mw * 0.9, y - mw * 0.05, x + mw * 0.9, y + mw * 0.1), fill=PAPER, width=lw)
        elif expr == "surprised":
            self.draw.ellipse((x - mw * 0.4, y - mw * 0.4, x + mw * 0.4, y + mw * 0.6), fill=(120, 40, 44), outline=INK, width=lw)
        elif expr == "determined":
            self.draw.line((x - mw, y + mw * 0.12, x - mw * 0.7, y, x + mw * 0.7, y, x + mw, y + mw * 0.12), fill=INK, width=lw)
        else:
            self.draw.line((x - mw * 0.6, y, x + mw * 0.6, y), fill=INK, width=lw)

    # -- hair
    def _cap_points(self, bottom: float, grow: float = 1.08) -> list[tuple[float, float]]:
        b = self.b
        rx, ry = b.head * 0.5 * grow, b.head * 0.55 * grow
        cy = b.hy - b.head * 0.02
        return [(b.hx + rx * math.cos(a), cy + ry * math.sin(a)) for a in
                (math.radians(d) for d in range(180, 361, 12))] + [(b.hx + rx, bottom), (b.hx - rx, bottom)]

    def back_hair(self) -> None:
        b, col, style = self.b, self.f.colours, self.f.hair_style
        if style == "long":
            self.poly([(b.hx - b.head * 0.55, b.hy - b.head * 0.2), (b.hx + b.head * 0.55, b.hy - b.head * 0.2),
                       (b.hx + b.head * 0.68, b.hy + b.head * 1.5), (b.hx + b.head * 0.2, b.hy + b.head * 1.65),
                       (b.hx - b.head * 0.2, b.hy + b.head * 1.65), (b.hx - b.head * 0.68, b.hy + b.head * 1.5)], col.hair_shadow)
        elif style == "bob":
            self.draw.rounded_rectangle((b.hx - b.head * 0.6, b.hy - b.head * 0.45, b.hx + b.head * 0.6, b.hy + b.head * 0.5),
                                        radius=b.head * 0.3, fill=self.c(col.hair_shadow), outline=self.ink, width=b.line)
        elif style == "ponytail":
            back = -b.face
            tie = (b.hx + back * b.head * 0.42, b.hy - b.head * 0.3)
            self.poly([tie, (tie[0] + back * b.head * 0.32, tie[1] + b.head * 0.2), (tie[0] + back * b.head * 0.42, tie[1] + b.head * 0.9),
                       (tie[0] + back * b.head * 0.18, tie[1] + b.head * 1.3), (tie[0] + back * b.head * 0.02, tie[1] + b.head * 0.5)], col.hair)
            r = b.head * 0.08
            self.blob((tie[0] - r, tie[1] - r, tie[0] + r, tie[1] + r), col.accent)
        elif style == "bun":
            r = b.head * 0.22
            cx, cy = b.hx - b.face * b.head * 0.1, b.hy - b.head * 0.58
            self.blob((cx - r, cy - r, cx + r, cy + r), col.hair)

    def front_hair(self) -> None:
        b, col, style = self.b, self.f.colours, self.f.hair_style
        if style == "bald":
            if self.f.age == "elder":  # a fringe of grey above the ears
                for side in (-1, 1):
                    x = b.hx + side * b.head * 0.46
                    self.blob((x - b.head * 0.08, b.hy - b.head * 0.15, x + b.head * 0.08, b.hy + b.head * 0.08), col.hair)
            if not self.silhouette:
                self.draw.arc((b.hx - b.head * 0.3, b.hy - b.head * 0.45, b.hx + b.head * 0.1, b.hy - b.head * 0.1), 200, 260,
                              fill=PAPER, width=b.line * 2)
            return
        if style == "spiky":
            points = []
            for i, deg in enumerate(range(160, 384, 16)):
                a = math.radians(deg)
                r = b.head * (0.78 if i % 2 else 0.52)
                points.append((b.hx + r * math.cos(a) * 0.95, b.hy - b.head * 0.05 + r * math.sin(a)))
            self.poly(points, col.hair)
            fringe_y = b.hy - b.head * 0.12
            self.poly([(b.hx - b.head * 0.48, b.hy - b.head * 0.15), (b.hx + b.head * 0.48, b.hy - b.head * 0.15),
                       (b.hx + b.head * 0.3, fringe_y + b.head * 0.1), (b.hx + b.head * 0.15, fringe_y - b.head * 0.02),
                       (b.hx + b.face * b.head * 0.05, fringe_y + b.head * 0.14), (b.hx - b.head * 0.15, fringe_y - b.head * 0.02),
                       (b.hx - b.head * 0.32, fringe_y + b.head * 0.1)], col.hair)
            return
        side_len = {"long": 0.6, "bob": 0.42}.get(style, 0.14)
        # cap over the skull, then a fringe of pointed locks, longest near the parting on the facing side
        cap = self._cap_points(b.hy - b.head * 0.1)
        left, right = b.hx - b.head * 0.5, b.hx + b.head * 0.5
        part = b.hx + b.face * b.head * 0.14
        locks = 7
        fringe = []
        for i in range(locks):
            x0 = right + (left - right) * i / locks
            x1 = right + (left - right) * (i + 1) / locks
            tip_x = x0 + (x1 - x0) * (0.35 if b.face > 0 else 0.65)
            nearness = 1 - min(1.0, abs(tip_x - part) / (b.head * 0.6))
            tip_y = b.hy - b.head * (0.14 - 0.16 * nearness if style != "bob" else 0.04)
            fringe.append((tip_x, tip_y))
            if i < locks - 1:
                fringe.append((x1, b.hy - b.head * (0.26 if style != "bob" else 0.1)))
        poly = cap[:-2] + [(right + b.head * 0.04, b.hy + b.head * side_len), (right - b.head * 0.04, b.hy - b.head * 0.02)] + fringe + \
            [(left + b.head * 0.04, b.hy - b.head * 0.02), (left - b.head * 0.04, b.hy + b.head * side_len)]
        self.poly(poly, col.hair)
        if self.silhouette:
            return
        # the glossy "angel ring" highlight of manga hair
        ring = (b.hx - b.head * 0.36, b.hy - b.head * 0.42, b.hx + b.head * 0.36, b.hy - b.head * 0.1)
        self.draw.arc(ring, 200, 340, fill=mix(col.hair, PAPER, 0.55), width=max(2, int(b.head * 0.05)))

    def robot_head(self) -> None:
        b, col = self.b, self.f.colours
        hw, top, bottom = b.head * 0.52, b.hy - b.head * 0.45, b.hy + b.head * 0.45
        # antenna first so the head covers its base
        tip = (b.hx + b.face * b.head * 0.2, b.hy - b.head * 0.9)
        self.draw.line((b.hx, top, tip[0], tip[1]), fill=self.ink, width=int(b.line * 1.5))
        r = b.head * 0.08
        self.blob((tip[0] - r, tip[1] - r, tip[0] + r, tip[1] + r), col.accent)
        self.draw.rounded_rectangle((b.hx - hw, top, b.hx + hw, bottom), radius=b.head * 0.18, fill=self.c(col.skin),
                                    outline=self.ink, width=b.line)
        # a plate on the crown in the character's "hair" colour, so the palette still tells robots apart
        self.draw.rounded_rectangle((b.hx - hw * 0.85, top - b.head * 0.04, b.hx + hw * 0.85, top + b.head * 0.14),
                                    radius=b.head * 0.06, fill=self.c(col.hair), outline=self.ink, width=b.line)
        for side in (-1, 1):
            bx = b.hx + side * hw
            self.blob((bx - b.head * 0.07, b.hy - b.head * 0.1, bx + b.head * 0.07, b.hy + b.head * 0.1), grey(0.45))
        if self.silhouette:
            return
        vx = b.hx + b.face * b.head * 0.05
        visor = (vx - hw * 0.8, b.hy - b.head * 0.14, vx + hw * 0.8, b.hy + b.head * 0.16)
        self.draw.rounded_rectangle(visor, radius=b.head * 0.08, fill=(40, 44, 56), outline=INK, width=b.line)
        glow = mix(col.accent, PAPER, 0.25)
        ey = b.hy + b.head * 0.01
        expr = self.expression
        for x in (vx - hw * 0.38, vx + hw * 0.38):
            s = b.head * 0.08
            if expr == "smile":
                self.draw.arc((x - s * 1.2, ey - s * 0.6, x + s * 1.2, ey + s * 1.6), 200, 340, fill=glow, width=max(2, int(s * 0.5)))
            elif expr == "surprised":
                self.draw.ellipse((x - s * 1.1, ey - s * 1.1, x + s * 1.1, ey + s * 1.1), outline=glow, width=max(2, int(s * 0.4)))
            elif expr in ("angry", "determined"):
                slope = s * (0.7 if expr == "angry" else 0.35) * (1 if x > vx else -1)
                self.draw.polygon([(x - s * 1.2, ey - s * 0.5 - slope), (x + s * 1.2, ey - s * 0.5 + slope), (x + s * 1.2, ey + s * 0.5),
                                   (x - s * 1.2, ey + s * 0.5)], fill=glow)
            elif expr == "sad":
                slope = s * 0.6 * (1 if x > vx else -1)
                self.draw.polygon([(x - s * 1.2, ey - s * 0.3 + slope), (x + s * 1.2, ey - s * 0.3 - slope), (x + s * 1.2, ey + s * 0.4),
                                   (x - s * 1.2, ey + s * 0.4)], fill=glow)
            else:
                self.draw.ellipse((x - s, ey - s, x + s, ey + s), fill=glow)
        # speaker grille as a mouth; it bends with the mood
        gy = b.hy + b.head * 0.3
        for i in range(-2, 3):
            x = vx + i * b.head * 0.07
            bend = {"smile": -abs(i) * 0.015, "sad": abs(i) * 0.015}.get(expr, 0.0) * b.head
            self.draw.line((x, gy - b.head * 0.04 + bend, x, gy + b.head * 0.04 + bend), fill=INK, width=max(1, b.line))


def pose_figure(canvas_size: tuple[int, int], character: dict, placement: Placement, camera: str, style: str) -> Body:
    """Where a figure will land (head centre, head height, body points) without drawing it."""
    figure = resolve_figure(character if character else {"id": placement.character_id})
    return pose(figure, placement, canvas_size, camera, style)


def draw_figure(canvas: Image.Image, character: dict, placement: Placement, camera: str, style: str,
                silhouette: bool = False) -> Body:
    """Paint one posed figure onto the canvas and return where its body landed."""
    figure = resolve_figure(character if character else {"id": placement.character_id})
    body = pose(figure, placement, canvas.size, camera, style)
    _Painter(canvas, figure, body, placement.expression, style, silhouette).paint()
    return body
