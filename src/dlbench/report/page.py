"""What the report's template renders (sections made of blocks: text, tables, figures, key-value
lists) and the helpers every section uses to name runs and save figures."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlbench.store.db import RunRow

MAX_TITLE = 56  # characters of a name in a figure title before it is shortened


@dataclass
class FigureRef:
    stem: str
    title: str
    caption: str
    uri: str  # data:image/svg+xml;base64,...
    png: Path
    svg: Path
    wide: bool = False  # spans the full width (image grids)


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    caption: str = ""
    row_classes: list[str] = field(default_factory=list)


@dataclass
class Block:
    kind: str  # p, note, warn, table, figures, kv
    text: str = ""
    table: Table | None = None
    figures: list[FigureRef] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

    def p(self, text: str) -> None:
        self.blocks.append(Block("p", text))

    def note(self, text: str) -> None:
        self.blocks.append(Block("note", text))

    def warn(self, text: str) -> None:
        self.blocks.append(Block("warn", text))

    def table(self, table: Table) -> None:
        self.blocks.append(Block("table", table=table))

    def figures(self, figs: list[FigureRef]) -> None:
        if figs:
            self.blocks.append(Block("figures", figures=figs))

    def kv(self, items: list[tuple[str, str]]) -> None:
        self.blocks.append(Block("kv", items=items))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40] or "x"


def short(text: Any, limit: int = MAX_TITLE) -> str:
    s = str(text)
    if len(s) <= limit:
        return s
    half = (limit - 1) // 2
    return s[:half] + "…" + s[-half:]


def run_label(r: RunRow) -> str:
    return (
        f"run {r.id}: {r['model']} / {short(r['dataset'], 32)} / {r['framework']} / {r['device']}"
    )


def dataset_name(r: RunRow) -> str:
    return str(r["dataset"])


def classes_caption(names: list[str], limit: int = 20) -> str:
    """The class names in a caption (the figure's text is not searchable or read aloud)."""
    shown = ", ".join(str(n) for n in names[:limit])
    return f"classes {shown}" + (f" and {len(names) - limit} more" if len(names) > limit else "")


class Figures:
    """Saves figures into the report's folder and keeps what the template needs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self.count = 0

    def add(self, fig, stem: str, title: str, caption: str = "", wide: bool = False) -> FigureRef:
        from dlbench.report.figures import save

        self.count += 1
        stem = f"{self.count:02d}-{stem}"
        saved = save(fig, self.folder, stem)
        self.files += [saved.png, saved.svg]
        return self._ref(stem, title, caption, saved.png, saved.svg, wide)

    def copy(self, png: Path, svg: Path, stem: str, title: str, caption: str) -> FigureRef:
        """A figure drawn earlier (feature maps): copied in, embedded the same way."""
        import shutil

        self.count += 1
        stem = f"{self.count:02d}-{stem}"
        dst_png, dst_svg = self.folder / f"{stem}.png", self.folder / f"{stem}.svg"
        shutil.copyfile(png, dst_png)
        shutil.copyfile(svg, dst_svg)
        self.files += [dst_png, dst_svg]
        return self._ref(stem, title, caption, dst_png, dst_svg, wide=True)

    @staticmethod
    def _ref(
        stem: str, title: str, caption: str, png: Path, svg: Path, wide: bool = False
    ) -> FigureRef:
        data = base64.b64encode(svg.read_bytes()).decode("ascii")
        uri = f"data:image/svg+xml;base64,{data}"
        return FigureRef(stem, title, caption, uri, png, svg, wide)
