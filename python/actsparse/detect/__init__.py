"""Object detection around the .tflite: decoding a YOLO-style detector's raw
head outputs into boxes, and non-maximum suppression, and COCO mean average precision (pycocotools,
imported when called). numpy only (no torch at import), so it runs wherever
the .tflite runs."""

from actsparse.detect.metrics import MeanAP, mean_average_precision
from actsparse.detect.postprocess import Detections, decode, non_max_suppression, postprocess

__all__ = ["Detections", "MeanAP", "decode", "mean_average_precision", "non_max_suppression", "postprocess"]
