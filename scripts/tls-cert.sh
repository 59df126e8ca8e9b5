#!/usr/bin/env bash
# Makes a certificate for the gateway's TLS port (--tls-cert, --tls-key) from
# a private authority of your own: for development, tests, and a private
# network whose clients you can give the authority's certificate. A public
# deployment uses a certificate from a public authority instead (Let's
# Encrypt, say): see docs/deploy.md.
#
#   bash scripts/tls-cert.sh DIR NAME...
#
# NAME: the host names and IP addresses clients use (localhost, 127.0.0.1,
# chat.internal, ...); the first is also the subject. Writes DIR/ca.pem and
# DIR/ca.key (the authority: made once, reused when present; give ca.pem to
# clients, e.g. parley-cli --ca-file, and keep ca.key to yourself), then
# DIR/gateway.pem (the certificate) and DIR/gateway.key (its key, mode 600).
# Keys are EC P-256; the certificate lasts 397 days. Needs the openssl command
# (Debian package openssl). Exit status: 0, or 2 for bad arguments.
set -euo pipefail

prog="tls-cert"
if [ $# -lt 2 ]; then
  echo "usage: $prog DIR NAME..." >&2
  exit 2
fi
dir="$1"
shift
san=""
for name in "$@"; do
  if [[ "$name" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || [[ "$name" =~ ^[0-9A-Fa-f:]+:[0-9A-Fa-f:]*$ ]]; then
    san="$san,IP:$name"
  elif [[ "$name" =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$ ]]; then
    san="$san,DNS:$name"
  else
    echo "$prog: error: '$name' is neither a host name nor an IP address" >&2
    exit 2
  fi
done
san="${san#,}"
command -v openssl >/dev/null || { echo "$prog: error: the openssl command is missing (apt-get install openssl)" >&2; exit 2; }
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ] || [ ! -f "$dir/ca.key" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 825 \
    -subj "/CN=parley-private-ca-$(date +%s)-$RANDOM" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.pem" 2>/dev/null
  echo "$prog: made the authority $dir/ca.pem" >&2
fi

openssl ecparam -name prime256v1 -genkey -noout -out "$dir/gateway.key" 2>/dev/null
openssl req -new -key "$dir/gateway.key" -subj "/CN=$1" -out "$dir/gateway.csr" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$san" > "$dir/gateway.ext"
openssl x509 -req -in "$dir/gateway.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 397 -sha256 -extfile "$dir/gateway.ext" -out "$dir/gateway.pem" 2>/dev/null
rm -f "$dir/gateway.csr" "$dir/gateway.ext"
chmod 600 "$dir/gateway.key"
chmod 644 "$dir/gateway.pem" "$dir/ca.pem"
echo "$prog: made $dir/gateway.pem and $dir/gateway.key for $san" >&2
