#!/bin/sh
# The serve_nq page's browser tests (tests/test_serve_browser.py) drive Debian's Chromium
# through its chromedriver, with the DejaVu fonts for the screenshots: no browser download.
# `make test` runs this: as root it installs what is missing with apt-get, otherwise it says
# the command to run (the browser tests skip until then).
set -eu
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
if ! { command -v dpkg-query >/dev/null 2>&1 &&
       dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "ok installed"; }; then
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$missing fonts-dejavu-core"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "browser tests: apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "browser tests skip without$missing: run sudo apt-get install --no-install-recommends$missing"
fi
