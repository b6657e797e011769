#!/usr/bin/env bash
# Builds the Debian package into build/dist/: sightline_VERSION_ARCH.deb (the binary stripped,
# /etc/sightline/sightline.yaml, the systemd unit, sightline(8)). Install: dpkg -i, or
# apt-get install ./build/dist/sightline_*.deb (pulls the runtime libraries it depends on).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --run-only sightline package_files
(cd build && cpack -G DEB >/dev/null)
ls build/dist/sightline_*.deb
