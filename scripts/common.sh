# Shared by the scripts in this folder: repository paths and small helpers.
# shellcheck shell=bash
set -euo pipefail

ACTSPARSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ACTSPARSE_ROOT}/.venv"
VENV_TFLITE214="${ACTSPARSE_ROOT}/.venv-tflite214"
VENV_TF221="${ACTSPARSE_ROOT}/.venv-tf221"
DELEGATE_LIB_DIR="${ACTSPARSE_ROOT}/python/actsparse/_lib"
export ACTSPARSE_ROOT VENV VENV_TFLITE214 VENV_TF221

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run as root, or through sudo when it exists (apt needs it).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "'$*' needs root (no sudo found)"
  fi
}

bazel_cmd() { (cd "${ACTSPARSE_ROOT}" && bazel "$@"); }
