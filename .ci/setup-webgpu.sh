#!/usr/bin/env bash
# Installs a CPU WebGPU adapter for the device tests (issue 18; /work/shared/GPU.md): Mesa's
# lavapipe Vulkan driver from Debian bookworm-backports (Mesa 25; bookworm's own Mesa 22.3 is
# refused by Dawn). Idempotent; needs root and apt. Where it cannot install (not root, no apt,
# not Debian bookworm, no network) it prints one line and exits 0: the WebGPU tests then skip
# with one line of their own, and Dawn's GL ES backend on stock Mesa remains as a fallback
# (THEANO_WEBGPU_BACKEND=opengles).
set -u
say() { echo "setup-webgpu: $*"; }

have=$(dpkg-query -W -f '${Version}' mesa-vulkan-drivers 2>/dev/null || true)
if [ -n "$have" ] && [ "${have%%.*}" -ge 24 ] 2>/dev/null && ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  say "lavapipe (mesa-vulkan-drivers $have) already installed"; exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  say "not root or no apt-get: skipped (WebGPU tests will skip unless an adapter exists)"; exit 0
fi
codename=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
if [ "$codename" != bookworm ]; then
  say "not Debian bookworm ($codename): skipped; install a Vulkan driver (Mesa >= 24 lavapipe) yourself"; exit 0
fi
list=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > "$list" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
log=$(mktemp)
if apt-get update >"$log" 2>&1 &&
   DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports --no-install-recommends mesa-vulkan-drivers >>"$log" 2>&1; then
  say "installed mesa-vulkan-drivers $(dpkg-query -W -f '${Version}' mesa-vulkan-drivers) (lavapipe)"
else
  say "apt-get failed (last line: $(tail -n 1 "$log")): skipped; WebGPU tests will skip"
fi
rm -f "$log"
exit 0
