#!/bin/sh
# The one install command (README): system packages for the real test peers,
# then edgeops, its built-in backends and the developer tools, editable.
set -eu
cd "$(dirname "$0")"

if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # openssh-server: SSH board tests start a real sshd on 127.0.0.1.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssh-server >/dev/null
    # kotlin: tests/test_app_readers.py compiles and runs examples/apps/android's reader.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kotlin >/dev/null
    # chromium: the report and studio tests open pages in Debian's headless browser
    # (Playwright drives it; Playwright's own browser download is never used).
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    # postgresql: the team-studio tests start a real server (initdb + pg_ctl) on
    # 127.0.0.1 in a temporary folder; the packaged cluster service is not used.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
    # adbd (AOSP's own daemon, packaged by Debian in backports): the adb tests
    # start it on a free TCP port as a real peer. The backports suite is this
    # machine's own Debian entry with only the suite changed, so no mirror is
    # named here.
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    sources=/etc/apt/sources.list.d/debian.sources
    backports=/etc/apt/sources.list.d/debian-backports.sources
    if [ -n "$codename" ] && [ -f "$sources" ] && [ ! -f "$backports" ]; then
        awk -v RS= -v ORS='\n\n' -v c="$codename" \
            '!done && $0 ~ ("Suites:([^\n]* )?" c "( |\n|$)") { sub(/Suites:[^\n]*/, "Suites: " c "-backports"); print; done = 1 }' \
            "$sources" | $SUDO tee "$backports" >/dev/null
        [ -s "$backports" ] || $SUDO rm -f "$backports"
        $SUDO apt-get update -qq
    fi
    if [ -n "$codename" ] && [ -f "$backports" ]; then
        # adb (the host's server and client): the adb-server tests start a real one
        # holding that adbd. It comes from the same suite: bookworm's own adb 29
        # depends on exactly android-libcutils 29, which backports' adbd 34 replaces.
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t "$codename-backports" adbd adb >/dev/null
    fi
fi

# pyproject.toml declares ranges; constraints.txt is the exact set the tests ran on,
# torch included (the CPU build: an unconstrained torch pulls several GB of CUDA wheels).
python3 -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,dev,measure]"
# onnx2torch (the ONNX -> Core ML route) declares torchvision, whose wheel here
# pulls CUDA packages; it needs torchvision for a few ops only (conversion-notes.md).
python3 -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt onnx2torch
# litert-torch (the PyTorch -> TFLite route without ONNX) with what it imports, but not
# what it only declares: its litert-converter pins xdsl==0.28.0, which declares
# typing-extensions<4.13 while pydantic needs >=4.14.1 (xdsl runs with the newer one);
# transformers and kagglehub serve only its generative examples. The versions are in
# constraints.txt.
python3 -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt \
    litert-torch litert-converter xdsl ai-edge-quantizer litert-lm-builder immutabledict \
    ordered-set lark multipledispatch jax jaxlib jaxtyping wadler_lindig fire
