#!/usr/bin/env bash
# Installs Mosquitto, the external broker every integration suite also
# runs against. Only root can install Debian packages; without root the
# embedded broker still serves `make run`, and `make test` says what is
# missing.
set -euo pipefail
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "mosquitto is not installed and we are not root: 'make run' works without it; 'make test' needs it (apt-get install -y mosquitto)" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends mosquitto mosquitto-clients; then
	apt-get update
	apt-get install -y --no-install-recommends mosquitto mosquitto-clients
fi
# The package starts a system broker on port 1883; our tests start their
# own on free ports, so the system one is not needed.
systemctl disable --now mosquitto >/dev/null 2>&1 || true
