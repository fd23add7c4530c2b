#!/usr/bin/env bash
# Installs the Debian packages the tests run for real: Mosquitto, the
# external broker every integration suite also runs against, Chromium
# with a Chinese font, the browser of the console test, and Node.js. Only root can install them; without
# root `make run` still works (its broker is embedded), and the tests say
# what is missing.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Node.js runs the other people's clients the tests meet: Eclipse Tahu's
# Sparkplug edge node and the example MQTT.js gateway.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# Without a Chinese font the console's labels render as empty boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages ${need[*]} and we are not root: 'make run' works without them; 'make test' needs them (apt-get install -y ${need[*]})" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${need[@]}"; then
	apt-get update
	apt-get install -y --no-install-recommends "${need[@]}"
fi
# The package starts a system broker on port 1883; the tests start their
# own on free ports, so the system one is not needed.
systemctl disable --now mosquitto >/dev/null 2>&1 || true
