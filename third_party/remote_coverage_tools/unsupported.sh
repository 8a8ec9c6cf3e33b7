#!/bin/sh
echo "actsparse: Bazel coverage is not supported in this offline workspace" >&2
exit 1
