#!/usr/bin/env bash
# Makes a private certificate authority and a coordinator certificate signed by it, with openssl.
#
#   scripts/private-ca.sh DIR NAME...     e.g. scripts/private-ca.sh /etc/gridx/tls grid.lan 192.168.1.100
#
# Writes DIR/ca.crt (give it to every user and worker: --ca-cert / GRIDX_CA_CERT), DIR/ca.key (keep
# it offline), DIR/coordinator.crt and DIR/coordinator.key (for gridx serve --tls-cert/--tls-key or
# a reverse proxy). NAMEs are the host names and IP addresses clients use to reach the coordinator.
# An existing CA in DIR is reused, so running it again only renews the coordinator's certificate.
# coordinator.key stays mode 0600 and is given to the account that runs `gridx serve`:
# PRIVATE_CA_KEY_OWNER (default: the `gridx` user of deploy/gridx-coordinator.service, when it exists).
set -euo pipefail

[ $# -ge 2 ] || {
  echo "usage: $0 DIR NAME... (host names and IP addresses of the coordinator)" >&2
  exit 2
}
command -v openssl >/dev/null 2>&1 || {
  echo "private-ca: openssl is missing: install it (apt-get install openssl), then run this again" >&2
  exit 1
}
dir=$1
shift
san=""
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
done
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Grid-X private CA" -keyout ca.key -out ca.crt
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=$1" -keyout coordinator.key -out coordinator.csr
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "${san%,}" >coordinator.ext
openssl x509 -req -in coordinator.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
  -extfile coordinator.ext -out coordinator.crt
rm -f coordinator.csr coordinator.ext
chmod 644 ca.crt coordinator.crt
owner=${PRIVATE_CA_KEY_OWNER:-}
if [ -z "$owner" ] && id gridx >/dev/null 2>&1; then owner=gridx; fi
if [ -n "$owner" ]; then
  id "$owner" >/dev/null 2>&1 || {
    echo "private-ca: PRIVATE_CA_KEY_OWNER=$owner is not a user here: create it, or name the user that runs gridx serve" >&2
    exit 1
  }
  # The service reads its key as itself; root-only would stop 'gridx serve' with "permission denied".
  chown "$owner" coordinator.key
  echo "private-ca: $dir/coordinator.key (mode 0600) belongs to $owner, who runs gridx serve" >&2
else
  echo "private-ca: $dir/coordinator.key is readable by $(id -un) only; give it to the user that runs gridx serve (PRIVATE_CA_KEY_OWNER=USER, or chown)" >&2
fi
echo "private-ca: $dir/coordinator.crt for $* signed by $dir/ca.crt" >&2
