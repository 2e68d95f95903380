"""`dlbench faces capture|extract`: collect aligned face crops into DIR/PERSON/NNNN.png.

Thin commands over `dlbench.faces`; cv2, numpy and rich are imported inside the commands
so that `dlbench --help` stays instant.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from dlbench.cli import app

faces_app = typer.Typer(
    help="Collect aligned face crops for a folder dataset (report A).", no_args_is_help=True
)
app.add_typer(faces_app, name="faces")


class NoEyes(str, Enum):
    centre = "centre"
    skip = "skip"


class Several(str, Enum):
    skip = "skip"
    largest = "largest"


PERSON_HELP = "Name of the person: the sub-folder of --out the faces go to."
OUT_HELP = "Dataset folder; faces go to OUT/PERSON/NNNN.png, numbered on after existing files."
SIZE_HELP = "Side of the square grayscale crop, pixels."
NO_EYES_HELP = "A face whose eyes are not found: save a centred crop of it, or skip the frame."
SEVERAL_HELP = "A frame with several faces: skip it, or keep the largest face."
MIN_FACE_HELP = "Smallest face searched for, pixels (report A: 35)."
NEIGHBOURS_HELP = "Haar minNeighbors: higher finds fewer false faces (report A: 3)."
SCALE_HELP = "Haar scaleFactor: the image-pyramid step (report A: 1.1)."
ROTATE_HELP = "When no face is found upright, look again with the frame turned +-15, 30, 45 deg."
CONFIRM_HELP = (
    "Keep only faces that a second cascade also sees once aligned; --no-confirm keeps every "
    "upright face the first gives, as report A did (turned ones are always checked)."
)


@faces_app.command("capture")
def capture(
    person: str = typer.Option(..., "--person", help=PERSON_HELP),
    camera: int = typer.Option(0, "--camera", help="Camera index (0 is the first camera)."),
    count: int = typer.Option(200, "--count", min=1, help="Stop after this many faces."),
    out: Path = typer.Option(Path("faces"), "--out", help=OUT_HELP),
    size: int = typer.Option(128, "--size", help=SIZE_HELP),
    no_eyes: NoEyes = typer.Option(NoEyes.centre, "--no-eyes", help=NO_EYES_HELP),
    several: Several = typer.Option(Several.skip, "--several", help=SEVERAL_HELP),
    min_face: int = typer.Option(35, "--min-face", help=MIN_FACE_HELP),
    min_neighbors: int = typer.Option(3, "--min-neighbors", help=NEIGHBOURS_HELP),
    scale_factor: float = typer.Option(1.1, "--scale-factor", help=SCALE_HELP),
    rotate: bool = typer.Option(True, "--rotate/--no-rotate", help=ROTATE_HELP),
    confirm: bool = typer.Option(True, "--confirm/--no-confirm", help=CONFIRM_HELP),
) -> None:
    """Save COUNT aligned faces of PERSON from a camera (Ctrl-C stops and keeps them)."""
    _collect(
        camera,
        person,
        out,
        count,
        size=size,
        no_eyes=no_eyes,
        several=several,
        min_face=min_face,
        min_neighbors=min_neighbors,
        scale_factor=scale_factor,
        rotate=rotate,
        confirm=confirm,
    )


@faces_app.command("extract")
def extract(
    person: str = typer.Option(..., "--person", help=PERSON_HELP),
    source: Path = typer.Option(
        ..., "--from", help="A video file, an image, or a folder of images."
    ),
    out: Path = typer.Option(Path("faces"), "--out", help=OUT_HELP),
    count: int = typer.Option(
        None, "--count", min=1, help="Stop after this many faces (default: all)."
    ),
    size: int = typer.Option(128, "--size", help=SIZE_HELP),
    no_eyes: NoEyes = typer.Option(NoEyes.centre, "--no-eyes", help=NO_EYES_HELP),
    several: Several = typer.Option(Several.skip, "--several", help=SEVERAL_HELP),
    min_face: int = typer.Option(35, "--min-face", help=MIN_FACE_HELP),
    min_neighbors: int = typer.Option(3, "--min-neighbors", help=NEIGHBOURS_HELP),
    scale_factor: float = typer.Option(1.1, "--scale-factor", help=SCALE_HELP),
    rotate: bool = typer.Option(True, "--rotate/--no-rotate", help=ROTATE_HELP),
    confirm: bool = typer.Option(True, "--confirm/--no-confirm", help=CONFIRM_HELP),
) -> None:
    """Save the aligned faces of PERSON found in a video or a folder of images."""
    _collect(
        source,
        person,
        out,
        count,
        size=size,
        no_eyes=no_eyes,
        several=several,
        min_face=min_face,
        min_neighbors=min_neighbors,
        scale_factor=scale_factor,
        rotate=rotate,
        confirm=confirm,
    )


def _collect(
    source,
    person: str,
    out: Path,
    count: int | None,
    *,
    size: int,
    no_eyes: NoEyes,
    several: Several,
    min_face: int,
    min_neighbors: int,
    scale_factor: float,
    rotate: bool,
    confirm: bool,
) -> None:
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dlbench.faces import FaceConfig, check_person, collect_faces, open_source

    # Cheap checks first, so that a typo never waits for a camera.
    check_person(person)
    config = FaceConfig(
        size=size,
        no_eyes=no_eyes.value,
        several=several.value,
        min_face_px=min_face,
        min_neighbors=min_neighbors,
        scale_factor=scale_factor,
        confirm=confirm,
        **({} if rotate else {"retry_angles_deg": ()}),
    )
    frames = open_source(source)
    # A camera has no end: the bar counts faces towards --count. Files: frames read.
    by_faces = frames.length is None and count is not None
    total = count if by_faces else frames.length
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.fields[what]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("", total=total, what="faces" if by_faces else "frames")

        def show(summary) -> None:
            progress.update(
                task,
                completed=summary.faces_saved if by_faces else summary.frames_read,
                description=f"read {summary.frames_read} · saved {summary.faces_saved} · "
                f"skipped: {summary.skipped_text()}",
            )

        summary = collect_faces(frames, out, person, config, count=count, on_frame=show)

    print(_summary_line(summary))
    if summary.unreadable:
        print(f"unreadable, skipped: {', '.join(summary.unreadable)}")
    if summary.faces_saved == 0 and summary.frames_read and not summary.interrupted:
        print(
            f"warning: no face saved from {summary.frames_read} frames; if the faces are small, "
            f"lower --min-face (now {min_face}); if faces were found but not kept, see "
            "--several, --no-eyes and --no-confirm",
            file=sys.stderr,
        )
    if summary.interrupted:
        raise typer.Exit(130)


def _summary_line(summary) -> str:
    saved = summary.saved_paths
    where = f"{summary.out_dir}"
    if saved:
        where += (
            f" ({saved[0].name}..{saved[-1].name})" if len(saved) > 1 else f" ({saved[0].name})"
        )
    line = (
        f"saved {summary.faces_saved} face{'s' * (summary.faces_saved != 1)} to {where} "
        f"from {summary.frames_read} frame{'s' * (summary.frames_read != 1)} of {summary.source}; "
        f"skipped {summary.frames_skipped}: {summary.skipped_text()}"
    )
    centred = sum(f.method == "centre" for f in summary.faces)
    if centred:
        line += f"; {centred} centred crops (eyes not found)"
    if summary.faces_saved:
        line += f"; {summary.angle_text()}"
    return ("interrupted: " if summary.interrupted else "") + line
