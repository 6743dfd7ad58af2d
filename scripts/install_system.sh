#!/usr/bin/env bash
# Best effort, before the tests: Debian's chromium, for the checks that open every report kind
# in a real browser, and Debian's dataset-fashion-mnist, the real photos of the `fashion` world
# (70,000 idx images under /usr/share/datasets/fashion-mnist). Without either, the checks that
# need it are skipped and say why; nothing else depends on them.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing="$missing dataset-fashion-mnist"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "not installed (needs root and apt-get):$missing; the checks that need them will be skipped"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! timeout 600 sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends$missing" \
        >/tmp/mmcl_install_system.log 2>&1; then
    echo "could not install$missing (see /tmp/mmcl_install_system.log): the checks that need them are skipped"
fi
exit 0
