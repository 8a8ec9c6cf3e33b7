"""Repository rule wrapping the Android NDK's clang as a Bazel C++ toolchain.

Debian's Bazel 4.2.3 has no Android rules (no android_ndk_repository), so we
describe the NDK's LLVM toolchain ourselves. It is read from $ANDROID_NDK_HOME
(an NDK r23 or newer, layout toolchains/llvm/prebuilt/linux-x86_64). With no
NDK the toolchain still resolves, but every tool it runs fails with a message
that says how to point Bazel at an NDK.
"""

_PREBUILT = "toolchains/llvm/prebuilt/linux-x86_64"

def _missing_tool_script(reason):
    return "#!/bin/sh\necho 'actsparse: --config=android_arm64 needs an Android NDK: {}' >&2\nexit 1\n".format(reason)

def _android_ndk_clang_impl(rctx):
    ndk = rctx.os.environ.get("ANDROID_NDK_HOME", "")
    api = rctx.os.environ.get("ANDROID_API_LEVEL", "26")
    reason = ""
    if not ndk:
        reason = "ANDROID_NDK_HOME is not set"
    elif not rctx.path(ndk + "/" + _PREBUILT + "/bin/clang++").exists:
        reason = "no {}/bin/clang++ under ANDROID_NDK_HOME={}".format(_PREBUILT, ndk)

    if reason:
        rctx.file("missing_ndk.sh", _missing_tool_script(reason), executable = True)
        tool = str(rctx.path("missing_ndk.sh"))
        tools = {name: tool for name in ["clang++", "llvm-ar", "llvm-nm", "llvm-objcopy", "llvm-objdump", "llvm-strip", "llvm-cov", "ld.lld"]}
        prebuilt = str(rctx.path("."))
    else:
        prebuilt = ndk + "/" + _PREBUILT
        tools = {name: prebuilt + "/bin/" + name for name in ["clang++", "llvm-ar", "llvm-nm", "llvm-objcopy", "llvm-objdump", "llvm-strip", "llvm-cov", "ld.lld"]}

    rctx.template(
        "BUILD",
        rctx.attr._build_tpl,
        substitutions = {
            "%{api}": api,
            "%{prebuilt}": prebuilt,
            "%{sysroot}": prebuilt + "/sysroot",
            "%{clang}": tools["clang++"],
            "%{ar}": tools["llvm-ar"],
            "%{nm}": tools["llvm-nm"],
            "%{objcopy}": tools["llvm-objcopy"],
            "%{objdump}": tools["llvm-objdump"],
            "%{strip}": tools["llvm-strip"],
            "%{cov}": tools["llvm-cov"],
            "%{ld}": tools["ld.lld"],
        },
    )
    rctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(rctx.name))

android_ndk_clang = repository_rule(
    implementation = _android_ndk_clang_impl,
    attrs = {
        "_build_tpl": attr.label(default = "//toolchain/android:ndk.BUILD.tpl"),
    },
    environ = ["ANDROID_NDK_HOME", "ANDROID_API_LEVEL"],
    local = True,
)
