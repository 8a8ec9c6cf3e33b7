"""The actsparse mask annotation stored in a .tflite ``Model.metadata`` entry.

The format is specified in ``docs/FORMAT.md``; this module is its single
Python owner. The C++ twin of :data:`METADATA_NAME` is
``delegate/format/metadata_name.h`` (a test checks they agree).
"""

from __future__ import annotations

#: Name of the ``Model.metadata`` entry the delegate reads through
#: ``TfLiteContext::GetModelMetadata``.
METADATA_NAME = "actsparse.masks"
