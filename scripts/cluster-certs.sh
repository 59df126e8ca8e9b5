#!/usr/bin/env bash
# Makes the certificates of a Parley cluster: one CA (the cluster's secret:
# keep ca.key off the nodes) and one certificate per node, signed by it.
# Node links are mutual TLS, so only a node holding a certificate from this
# CA can join the cluster or be joined (docs/cluster.md).
#
#   bash scripts/cluster-certs.sh DIR NODE...
#
# writes DIR/ca.pem and DIR/ca.key (made once, reused when present), and for
# each NODE: DIR/NODE.pem (certificate) and DIR/NODE.key (private key, mode
# 600). Keys are EC P-256; certificates last 825 days. Needs the openssl
# command (Debian package openssl). Exit status: 0, or 2 for bad arguments.
set -euo pipefail

prog="cluster-certs"
if [ $# -lt 2 ]; then
  echo "usage: $prog DIR NODE..." >&2
  exit 2
fi
dir="$1"
shift
for node in "$@"; do
  if ! [[ "$node" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]]; then
    echo "$prog: error: node name '$node': 1 to 64 letters, digits, '.', '_' or '-'" >&2
    exit 2
  fi
done
command -v openssl >/dev/null || { echo "$prog: error: the openssl command is missing (apt-get install openssl)" >&2; exit 2; }
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ] || [ ! -f "$dir/ca.key" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 825 \
    -subj "/CN=parley-cluster-ca-$(date +%s)-$RANDOM" -out "$dir/ca.pem" 2>/dev/null
  echo "$prog: made the cluster CA $dir/ca.pem" >&2
fi

for node in "$@"; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$node.key" 2>/dev/null
  openssl req -new -key "$dir/$node.key" -subj "/CN=$node" -out "$dir/$node.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 825 -sha256 -out "$dir/$node.pem" 2>/dev/null
  rm -f "$dir/$node.csr"
  chmod 600 "$dir/$node.key"
  chmod 644 "$dir/$node.pem"
  echo "$prog: made $dir/$node.pem and $dir/$node.key" >&2
done
chmod 644 "$dir/ca.pem"
