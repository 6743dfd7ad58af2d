#!/usr/bin/env bash
# Best effort, before the tests: Debian's chromium, for the checks that open every report kind
# in a real browser. Without it those checks are skipped and say why; nothing else depends on it.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "no chromium (needs root and apt-get to install): the report browser checks will be skipped"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! timeout 600 sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium' \
        >/tmp/mmcl_install_browser.log 2>&1; then
    echo "chromium could not be installed (see /tmp/mmcl_install_browser.log): browser checks skipped"
fi
exit 0
