"""Object detection around the .tflite: decoding a YOLO-style detector's raw
head outputs into boxes, and non-maximum suppression. numpy only (no torch
at import), so it runs wherever the .tflite runs."""

from actsparse.detect.postprocess import Detections, decode, non_max_suppression, postprocess

__all__ = ["Detections", "decode", "non_max_suppression", "postprocess"]
