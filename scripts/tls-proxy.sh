#!/usr/bin/env bash
# tls-proxy.sh - a TLS-terminating load balancer (HAProxy, Debian's package; scripts/deps.sh) in
# front of moltd instances, on loopback only, with a throw-away test PKI made here with openssl.
# For tests and benches: never use these keys for anything that matters.
#
#   scripts/tls-proxy.sh pki DIR            a server CA (DIR/ca.pem), the proxy's certificate for
#                                           127.0.0.1 and localhost (DIR/server.pem, key included),
#                                           a device CA (DIR/devca.pem, its key, an empty CRL) and
#                                           DIR/issuer: the device CA's SHA-256 fingerprint, the
#                                           value moltd's --client-cert-issuer wants
#   scripts/tls-proxy.sh device DIR ID      a client certificate for controller ID, signed by the
#                                           device CA: DIR/dev-ID.pem, DIR/dev-ID.key (CN = ID)
#   scripts/tls-proxy.sh revoke DIR ID      revoke it and regenerate the CRL (restart the proxy)
#   scripts/tls-proxy.sh start DIR PORT BACKEND_PORT...
#                                           HAProxy on 127.0.0.1:PORT (0: a free one), TLS with
#                                           DIR/server.pem, client certificates optional but, when
#                                           sent, verified against the device CA and its CRL (a
#                                           wrong or revoked one ends the handshake); round robin
#                                           over moltd on 127.0.0.1:BACKEND_PORT..., connecting
#                                           from 127.0.0.2 (PROXY_SOURCE), the one address moltd's
#                                           --trusted-proxy names. Prints the port; DIR/stats.sock
#                                           is HAProxy's stats socket.
#   scripts/tls-proxy.sh stop DIR           stop it
#
# What the proxy passes to moltd (hawkBit's reverse-proxy certificate authentication): it deletes
# any X-Ssl-Client-Cn, X-Ssl-Issuer-Hash-1 and X-Forwarded-Proto the client sent, then sets
# X-Forwarded-Proto: https and, for a verified client certificate only, X-Ssl-Client-Cn (its CN)
# and X-Ssl-Issuer-Hash-1 (DIR/issuer). PROXY_MAXCONN (default 32) bounds the connections to each
# moltd instance: keep it below moltd's --per-ip-connections (every proxied request comes from
# the one proxy address).
set -euo pipefail
cmd=${1:?usage: tls-proxy.sh pki|device|revoke|start|stop DIR ...}; dir=${2:?usage: tls-proxy.sh $cmd DIR ...}
src=${PROXY_SOURCE:-127.0.0.2}
mkdir -p "$dir"; dir=$(cd "$dir" && pwd) # the configurations name files by absolute path
ossl() { openssl "$@" 2>>"$dir/openssl.log" >&2 || { echo "tls-proxy: openssl $1 failed: $(tail -n 2 "$dir/openssl.log")" >&2; exit 1; }; }

devca_conf() {
  cat >"$dir/devca.cnf" <<EOF
[ca]
default_ca = devca
[devca]
database = $dir/devca.index
serial = $dir/devca.serial
crlnumber = $dir/devca.crlnumber
certificate = $dir/devca.pem
private_key = $dir/devca.key
new_certs_dir = $dir/devca.certs
default_md = sha256
default_days = 30
default_crl_days = 30
policy = anything
unique_subject = no
[anything]
commonName = supplied
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF
}

case $cmd in
pki)
  mkdir -p "$dir/devca.certs"; : >"$dir/openssl.log"
  # the server side: a CA and the proxy's certificate
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=molt test server CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" \
    -out "$dir/server.csr"
  printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\nbasicConstraints = critical, CA:FALSE\n' \
    >"$dir/server.ext"
  ossl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
    -extfile "$dir/server.ext" -out "$dir/server.crt"
  cat "$dir/server.crt" "$dir/server.key" >"$dir/server.pem"
  # the device side: a CA for client certificates, with a CRL
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=molt test device CA" \
    -keyout "$dir/devca.key" -out "$dir/devca.pem" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
  : >"$dir/devca.index"; echo 1000 >"$dir/devca.serial"; echo 1000 >"$dir/devca.crlnumber"
  devca_conf
  ossl ca -batch -config "$dir/devca.cnf" -gencrl -out "$dir/devca.crl"
  openssl x509 -in "$dir/devca.pem" -noout -fingerprint -sha256 | sed 's/^.*=//' >"$dir/issuer"
  ;;
device)
  id=${3:?usage: tls-proxy.sh device DIR ID}
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$id" -keyout "$dir/dev-$id.key" \
    -out "$dir/dev-$id.csr"
  ossl ca -batch -config "$dir/devca.cnf" -extensions client -notext -in "$dir/dev-$id.csr" -out "$dir/dev-$id.pem"
  ;;
revoke)
  id=${3:?usage: tls-proxy.sh revoke DIR ID}
  ossl ca -config "$dir/devca.cnf" -revoke "$dir/dev-$id.pem"
  ossl ca -batch -config "$dir/devca.cnf" -gencrl -out "$dir/devca.crl"
  ;;
start)
  port=${3:?usage: tls-proxy.sh start DIR PORT BACKEND_PORT...}; shift 3
  [ $# -gt 0 ] || { echo "tls-proxy: at least one BACKEND_PORT" >&2; exit 2; }
  command -v haproxy >/dev/null || { echo "tls-proxy: HAProxy is not installed (scripts/deps.sh installs it)" >&2; exit 2; }
  if [ "$port" = 0 ]; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  {
    printf 'global\n  maxconn %s\n  nbthread %s\n  stats socket %s/stats.sock mode 600 level admin\n' \
      "${PROXY_CONNS:-4000}" "${PROXY_THREADS:-2}" "$dir"
    printf '  ssl-default-bind-options ssl-min-ver TLSv1.2\n'
    printf 'defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n'
    printf '  timeout http-request 10s\n  timeout http-keep-alive 30s\n'
    printf 'frontend ddi\n  bind 127.0.0.1:%s ssl crt %s/server.pem ca-file %s/devca.pem crl-file %s/devca.crl verify optional\n' \
      "$port" "$dir" "$dir" "$dir"
    printf '  http-request del-header X-Ssl-Client-Cn\n  http-request del-header X-Ssl-Issuer-Hash-1\n'
    printf '  http-request del-header X-Forwarded-Proto\n  http-request set-header X-Forwarded-Proto https\n'
    printf '  http-request set-header X-Ssl-Client-Cn %%[ssl_c_s_dn(cn)] if { ssl_c_used } { ssl_c_verify 0 }\n'
    printf '  http-request set-header X-Ssl-Issuer-Hash-1 %s if { ssl_c_used } { ssl_c_verify 0 }\n' "$(cat "$dir/issuer")"
    printf '  default_backend moltd\nbackend moltd\n  balance roundrobin\n  http-reuse safe\n'
    n=0
    for p in "$@"; do
      n=$((n + 1))
      printf '  server m%s 127.0.0.1:%s source %s maxconn %s\n' "$n" "$p" "$src" "${PROXY_MAXCONN:-32}"
    done
  } >"$dir/haproxy.cfg"
  haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 \
    || { echo "tls-proxy: bad configuration: $(tail -n 3 "$dir/haproxy.log")" >&2; exit 1; }
  haproxy -D -f "$dir/haproxy.cfg" -p "$dir/haproxy.pid" >>"$dir/haproxy.log" 2>&1 \
    || { echo "tls-proxy: HAProxy did not start: $(tail -n 3 "$dir/haproxy.log")" >&2; exit 1; }
  for _ in $(seq 100); do [ -S "$dir/stats.sock" ] && break; sleep 0.05; done
  echo "$port"
  ;;
stop)
  [ -f "$dir/haproxy.pid" ] || exit 0
  while read -r p; do kill "$p" 2>/dev/null || true; done <"$dir/haproxy.pid"
  rm -f "$dir/haproxy.pid"
  ;;
*) echo "usage: tls-proxy.sh pki|device|revoke|start|stop DIR ..." >&2; exit 2 ;;
esac
