"""Collect aligned face crops for a `folder:` dataset, as report A did with a webcam.

A pure library: frame sources (`sources`), Haar face and eye detection with rotation
retries (`detect`), alignment by the eyes (`align`) and the pipeline that ties them
together and saves `DIR/PERSON/NNNN.png` (`pipeline`). The CLI lives in `dlbench.cli.faces`.
"""

from dlbench.faces.align import align_by_eyes, eye_transform
from dlbench.faces.detect import Face, FaceDetector, measure_eye_angle
from dlbench.faces.pipeline import (
    FaceConfig,
    FaceSummary,
    SavedFace,
    Skip,
    check_person,
    collect_faces,
    next_number,
    process_frame,
    to_gray,
)
from dlbench.faces.sources import (
    ArraySource,
    CameraSource,
    FolderSource,
    Frame,
    FrameSource,
    ImageFilesSource,
    VideoSource,
    open_source,
)

__all__ = [
    "ArraySource",
    "CameraSource",
    "Face",
    "FaceConfig",
    "FaceDetector",
    "FaceSummary",
    "FolderSource",
    "Frame",
    "FrameSource",
    "ImageFilesSource",
    "SavedFace",
    "Skip",
    "VideoSource",
    "align_by_eyes",
    "check_person",
    "collect_faces",
    "eye_transform",
    "measure_eye_angle",
    "next_number",
    "open_source",
    "process_frame",
    "to_gray",
]
