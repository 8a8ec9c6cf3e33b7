"""Constants that C++ and Python must agree on, read from both sides."""

from __future__ import annotations

import re

from actsparse.format import METADATA_NAME


def test_metadata_name_matches_cpp(repo):
    header = (repo / "delegate/format/metadata_name.h").read_text()
    match = re.search(r'kMetadataName\[\]\s*=\s*"([^"]+)"', header)
    assert match, "kMetadataName not found in metadata_name.h"
    assert match.group(1) == METADATA_NAME
