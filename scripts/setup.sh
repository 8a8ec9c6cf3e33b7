#!/usr/bin/env bash
# Installs everything actsparse needs on a Debian 12 machine, idempotently:
#   apt:  bazel-bootstrap, googletest, g++-aarch64-linux-gnu, qemu-user, ...
#   .venv            pinned Python environment (requirements/main.lock) + actsparse (editable)
#   .venv-tflite214  tflite-runtime 2.14.0, the second runtime the delegate is tested in
#   .venv-tf221      tensorflow-cpu 2.21.0, its tf.lite is the third
#   .aarch64-runtime arm64 CPython + aarch64 ai-edge-litert, run under qemu-aarch64
# A second run does nothing that is already done.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

APT_PACKAGES=(
  bazel-bootstrap          # Bazel 4.2.3, builds the delegate offline
  googletest               # /usr/src/googletest, compiled by Bazel for host and aarch64
  g++                      # host compiler
  g++-aarch64-linux-gnu    # cross compiler for the aarch64 build
  qemu-user                # runs the aarch64 tests
  clang                    # libFuzzer build of the metadata parser (scripts/fuzz.sh)
  libclang-rt-14-dev       # libFuzzer and sanitizer runtimes for clang 14
  binutils                 # nm, to check the exported symbols
  file
  python3-venv
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "apt: all ${#APT_PACKAGES[@]} packages present"
fi

PYTHON="${ACTSPARSE_PYTHON:-python3}"
py_version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$py_version" = "3.11" ] || die "$PYTHON is Python $py_version; actsparse's pinned environment needs 3.11 (set ACTSPARSE_PYTHON)"

# pip options that never let a resolver pick versions: everything comes from a lock.
PIP_FLAGS=(--no-deps --disable-pip-version-check -q)
# Where a machine keeps wheels on disk (the CPU torch build here), use them.
[ -d /opt/wheels ] && PIP_FLAGS+=(--find-links /opt/wheels)

# This machine's global pip config names index folders that may not exist;
# pip warns about each one on every call. Drop only those lines.
pip_run() {
  local pip="$1"; shift
  "$pip" "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2)
}

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

make_venv() {  # make_venv DIR STAMP_INPUTS... -- INSTALL_COMMANDS via callback
  local dir="$1" stamp="$2"
  if [ -f "$dir/.actsparse-stamp" ] && [ "$(cat "$dir/.actsparse-stamp")" = "$stamp" ]; then
    return 1  # up to date
  fi
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir" || die "cannot create a venv in $dir with $PYTHON"
  return 0
}

main_stamp="$(stamp_of "$ACTSPARSE_ROOT/requirements/main.lock")"
if make_venv "$VENV" "$main_stamp"; then
  say ".venv: installing requirements/main.lock (torch, litert-torch, ai-edge-litert; ~2 GB, a few minutes)"
  pip_run "$VENV/bin/pip" install "${PIP_FLAGS[@]}" -r "$ACTSPARSE_ROOT/requirements/main.lock"
  pip_run "$VENV/bin/pip" check
  echo "$main_stamp" > "$VENV/.actsparse-stamp"
else
  say ".venv: up to date"
fi
# actsparse itself, editable; redone only when its packaging changes.
package_stamp="$(stamp_of "$ACTSPARSE_ROOT/pyproject.toml")"
if [ "$(cat "$VENV/.actsparse-package-stamp" 2>/dev/null)" != "$package_stamp" ]; then
  say ".venv: installing actsparse (editable)"
  pip_run "$VENV/bin/pip" install "${PIP_FLAGS[@]}" -e "$ACTSPARSE_ROOT"
  echo "$package_stamp" > "$VENV/.actsparse-package-stamp"
fi

# The other runtimes the delegate is tested in, each in its own venv from a
# lock; actsparse itself (pure Python, numpy only on these paths) from the
# checkout through a .pth, so that `import actsparse` works there as the
# README shows.
runtime_venv() {  # runtime_venv DIR LOCK WHAT
  local dir="$1" lock="$2" what="$3" stamp site
  stamp="$(stamp_of "$lock")"
  if make_venv "$dir" "$stamp"; then
    say "$(basename "$dir"): installing $what"
    pip_run "$dir/bin/pip" install "${PIP_FLAGS[@]}" -r "$lock"
    pip_run "$dir/bin/pip" check
    echo "$stamp" > "$dir/.actsparse-stamp"
  else
    say "$(basename "$dir"): up to date"
  fi
  site="$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$ACTSPARSE_ROOT/python" > "$site/actsparse-checkout.pth"
}
runtime_venv "$VENV_TFLITE214" "$ACTSPARSE_ROOT/requirements/tflite214.lock" "tflite-runtime 2.14.0"
runtime_venv "$VENV_TF221" "$ACTSPARSE_ROOT/requirements/tensorflow221.lock" "tensorflow-cpu 2.21.0 (tf.lite; ~1.6 GB)"

# aarch64 LiteRT under qemu (tests/test_aarch64_runtime.py): Debian's arm64
# CPython 3.11 and its libraries extracted into a sysroot, and the aarch64
# wheels of ai-edge-litert and numpy unzipped into a site folder. Nothing
# arm64 is installed system-wide; the folder is redone only when its lists
# change.
A64="$ACTSPARSE_ROOT/.aarch64-runtime"
a64_stamp="$(stamp_of "$ACTSPARSE_ROOT/requirements/aarch64-debs.txt" "$ACTSPARSE_ROOT/requirements/aarch64-wheels.lock")"
if [ "$(cat "$A64/.actsparse-stamp" 2>/dev/null)" != "$a64_stamp" ]; then
  say ".aarch64-runtime: arm64 CPython 3.11 (Debian) + aarch64 ai-edge-litert and numpy wheels (~190 MB)"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    as_root dpkg --add-architecture arm64
    as_root apt-get update -qq
  fi
  rm -rf "$A64"
  mkdir -p "$A64/debs" "$A64/sysroot/proc" "$A64/site" "$A64/wheels"
  chmod 0777 "$A64/debs"  # apt's download user (_apt) writes there
  mapfile -t debs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$ACTSPARSE_ROOT/requirements/aarch64-debs.txt")
  if ! (cd "$A64/debs" && apt-get download -qq "${debs[@]}"); then
    # arm64 was added before, but its package lists were never fetched.
    as_root apt-get update -qq
    (cd "$A64/debs" && apt-get download -qq "${debs[@]}") || die "apt-get download of the arm64 packages failed"
  fi
  for deb in "$A64"/debs/*.deb; do dpkg-deb -x "$deb" "$A64/sysroot"; done
  # qemu-user shows the guest the host's /proc/cpuinfo; LiteRT's CPU
  # detection crashes on an x86 one. `-L` redirects /proc/cpuinfo here.
  for cpu in 0 1; do
    printf 'processor\t: %s\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$cpu"
  done > "$A64/sysroot/proc/cpuinfo"
  pip_run "$VENV/bin/pip" download --no-deps --disable-pip-version-check -q --only-binary=:all: \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
    --python-version 3.11 --implementation cp -d "$A64/wheels" -r "$ACTSPARSE_ROOT/requirements/aarch64-wheels.lock"
  for wheel in "$A64"/wheels/*.whl; do "$VENV/bin/python" -m zipfile -e "$wheel" "$A64/site"; done
  rm -rf "$A64/debs" "$A64/wheels"
  PYTHONPATH="$A64/site" PYTHONNOUSERSITE=1 qemu-aarch64 -L "$A64/sysroot" "$A64/sysroot/usr/bin/python3.11" -c \
    "import platform, ai_edge_litert.interpreter; assert platform.machine() == 'aarch64'" \
    || die "the aarch64 Python in $A64 cannot import ai_edge_litert under qemu"
  echo "$a64_stamp" > "$A64/.actsparse-stamp"
else
  say ".aarch64-runtime: up to date"
fi
