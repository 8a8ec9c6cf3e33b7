"""The Bazel build: exported symbols, the aarch64 library, offline operation,
and the Android NDK wiring (checked with a fake NDK: no real NDK exists here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

PLUGIN_SYMBOLS = {"tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate"}


def bazel(*args: str, env: dict | None = None, cwd: Path = REPO,
          timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bazel", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="module", autouse=True)
def _shutdown_bazel():
    yield
    bazel("shutdown")


def defined_dynamic_symbols(library: Path, nm: str = "nm") -> set[str]:
    out = subprocess.run([nm, "-D", "--defined-only", str(library)], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def test_host_library_exports_only_the_plugin_symbols(delegate_path):
    assert defined_dynamic_symbols(delegate_path) == PLUGIN_SYMBOLS
    demangled = subprocess.run(["nm", "-D", "-C", str(delegate_path)], capture_output=True,
                               text=True, check=True).stdout
    assert "actsparse::" not in demangled


def test_host_library_needs_only_the_c_and_cpp_runtimes(delegate_path):
    dynamic = subprocess.run(["readelf", "-d", str(delegate_path)], capture_output=True,
                             text=True, check=True).stdout
    needed = {line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line}
    assert needed <= {"libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6"}, needed


def test_aarch64_library():
    result = bazel("build", "--config=aarch64", "//delegate:libactsparse_delegate.so")
    assert result.returncode == 0, result.stderr[-3000:]
    out_dir = bazel("info", "--config=aarch64", "bazel-bin").stdout.strip()
    library = Path(out_dir) / "delegate" / "libactsparse_delegate.so"
    description = subprocess.run(["file", "-L", str(library)], capture_output=True, text=True).stdout
    assert "ARM aarch64" in description and "shared object" in description
    assert defined_dynamic_symbols(library, "aarch64-linux-gnu-nm") == PLUGIN_SYMBOLS


def test_downloads_fail_loudly(tmp_path):
    """A workspace that would need a download fails instead of fetching."""
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(REPO / ".bazelrc", ws / ".bazelrc")
    (ws / "WORKSPACE").write_text(
        'load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")\n'
        'http_archive(name = "remote", urls = ["https://downloads.invalid/never.tar.gz"])\n')
    (ws / "BUILD").write_text('filegroup(name = "x", srcs = ["@remote//:file"])\n')
    result = bazel("--batch", "build", "//:x", cwd=ws, timeout=300)
    assert result.returncode != 0
    assert "download" in result.stderr.lower() and "disabled" in result.stderr.lower(), result.stderr[-2000:]


def _fake_ndk(root: Path) -> Path:
    prebuilt = root / "toolchains/llvm/prebuilt/linux-x86_64"
    (prebuilt / "bin").mkdir(parents=True)
    (prebuilt / "sysroot").mkdir()
    for tool in ("clang++", "llvm-ar"):
        shutil.copy(REPO / "tests/fake_ndk" / tool, prebuilt / "bin" / tool)
    return prebuilt


def test_android_config_drives_the_ndk_clang(tmp_path):
    ndk = tmp_path / "ndk"
    prebuilt = _fake_ndk(ndk)
    result = bazel("build", "--config=android_arm64", "--spawn_strategy=local",
                   "//delegate:libactsparse_delegate.so",
                   env={"ANDROID_NDK_HOME": str(ndk), "ANDROID_API_LEVEL": "29"})
    assert result.returncode == 0, result.stderr[-3000:]
    calls = (ndk / "calls.log").read_text().splitlines()
    compiles = [c for c in calls if " -c " in c]
    links = [c for c in calls if "-shared" in c]
    assert compiles and links
    for call in calls:
        assert "--target=aarch64-linux-android29" in call
        assert f"--sysroot={prebuilt}/sysroot" in call
    assert all("-fuse-ld=lld" in c and "-static-libstdc++" in c for c in links)
    assert any("exports.lds" in c for c in links)
    out_dir = bazel("info", "--config=android_arm64", "bazel-bin",
                    env={"ANDROID_NDK_HOME": str(ndk), "ANDROID_API_LEVEL": "29"}).stdout.strip()
    library = Path(out_dir) / "delegate" / "libactsparse_delegate.so"
    # The fake NDK compiles with the aarch64 GNU toolchain: the NEON kernels are in.
    assert "ARM aarch64" in subprocess.run(["file", "-L", str(library)], capture_output=True,
                                           text=True).stdout
    assert defined_dynamic_symbols(library, "aarch64-linux-gnu-nm") == PLUGIN_SYMBOLS


def test_android_config_without_an_ndk_says_so():
    env = {k: v for k, v in os.environ.items() if k != "ANDROID_NDK_HOME"}
    result = subprocess.run(["bazel", "build", "--config=android_arm64",
                             "//delegate:libactsparse_delegate.so"], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode != 0
    assert "needs an Android NDK: ANDROID_NDK_HOME is not set" in result.stderr
