#!/usr/bin/env bash
# Installs every Debian 12 package cmklogs needs to build, run and test. Idempotent.
set -euo pipefail
PKGS=(
  cmake ninja-build ccache g++ clang-14 libclang-rt-14-dev lld pkg-config
  libssl-dev libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libzstd-dev liblz4-dev libsimdjson-dev zlib1g-dev libdeflate-dev libxxhash-dev libcli11-dev libspdlog-dev libfmt-dev libre2-dev
  libicu-dev libexpat1-dev libyaml-cpp-dev uap-core
  libs2-dev libgeos-dev libgeographiclib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  softhsm2 libp11-kit-dev azure-cli python3-cryptography
  python3-azure python3-pytest python3-requests libnss-myhostname openssl jq
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# *.localhost names resolve to loopback through nss-myhostname (installing it normally adds it
# to /etc/nsswitch.conf; make sure it is there).
if ! grep -qE '^hosts:.*myhostname' /etc/nsswitch.conf; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO sed -i -E 's/^(hosts:.*)$/\1 myhostname/' /etc/nsswitch.conf
fi
