#!/usr/bin/env bash
# moltd_tls.sh - moltd behind a TLS-terminating load balancer, end to end (issue 15): HAProxy
# (scripts/tls-proxy.sh) on loopback in front of two moltd instances on one PostgreSQL database
# (scripts/pg-cluster.sh; SQLite and one instance when PostgreSQL is missing: said so), with a test
# PKI made here with openssl. Checked:
#  - devices speak HTTPS to the proxy and verify its certificate: with the test CA it works, without
#    it (the system's CAs) curl and molt-agent refuse the server; the links moltd sends are https;
#  - device authentication by client certificate (hawkBit's reverse-proxy mode): a device with a
#    certificate for d1 is d1 without a token; it cannot act as d2 (403), not even by sending the
#    identity header itself through the proxy (the proxy replaces it); a revoked certificate and
#    one signed by another CA get no HTTP answer at all (the proxy ends the handshake);
#  - moltd trusts the identity headers only from --trusted-proxy: the same headers sent straight
#    to moltd get 401, and X-Forwarded-Proto from there changes no link;
#  - molt-agent updates through the proxy (d1 by certificate, d2 by token), both instances serve,
#    the audit log records each update once, and a whole update cycle costs the agent ONE TCP
#    connection: counted by the agent (curl's CURLINFO_NUM_CONNECTS) and, independently, by the
#    proxy (its frontend's conn_tot, read from HAProxy's stats socket).
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${MOLT_AGENT:?}" "${MOLT_SRC:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pids=()
need_cmd haproxy
cd "$work"

# --- the PKI: a server CA and the proxy's certificate; a device CA, d1..d3, d3 revoked; a rogue CA
P=$work/pki
step "$MOLT_SRC/scripts/tls-proxy.sh" pki "$P"
for d in d1 d2 d3; do step "$MOLT_SRC/scripts/tls-proxy.sh" device "$P" "$d"; done
step "$MOLT_SRC/scripts/tls-proxy.sh" revoke "$P" d3
step openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=d1" \
  -keyout rogue.key -out rogue.pem
ISSUER=$(cat "$P/issuer")

# --- the database: PostgreSQL with two instances, else SQLite with one
if pg_cluster 2>pg.err; then
  N=2; moltd_setup "$PGURL"
else
  echo "note: no PostgreSQL ($(cat pg.err)): SQLite, one instance"
  N=1; moltd_setup sqlite
fi
at_exit 'kill_wait "${pids[@]}"'
at_exit '"$MOLT_SRC/scripts/tls-proxy.sh" stop "$work/pki" >/dev/null 2>&1'
ports=()
for i in $(seq "$N"); do
  moltd_launch "moltd.$i.log" "moltd.$i.err" --poll-sleep 10 --trusted-proxy 127.0.0.2 --client-cert-issuer "$ISSUER"
  pids+=("$launched")
  port=$(moltd_port "moltd.$i.log" "$launched") || { echo "FAIL: moltd $i did not start: $(cat "moltd.$i.log" "moltd.$i.err")"; exit 1; }
  ports+=("$port")
done
PP=$("$MOLT_SRC/scripts/tls-proxy.sh" start "$P" 0 "${ports[@]}") || { echo "FAIL: the proxy did not start"; exit 1; }
S=https://127.0.0.1:$PP; D=http://127.0.0.1:${ports[0]}; U=$D/api/v1
hstat() {  # hstat FRONTEND|m1|m2 FIELD: one figure from HAProxy's stats socket
  python3 - "$P/stats.sock" "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
d = b""
while (b := s.recv(65536)):
    d += b
rows = [l.split(",") for l in d.decode().splitlines() if l]
head = rows[0]; head[0] = head[0].lstrip("# ")
col = head.index(sys.argv[3])
print(sum(int(r[col] or 0) for r in rows[1:] if r[1] == sys.argv[2]))
EOF
}

# --- the fleet: keys, v1 on the devices, v2 in moltd; d1..d4 provisioned (management API, direct)
step "$MOLT" keygen -t ecdsa-p256 -k vendor.pem
step "$MOLT" getpub -k vendor.pem -e pem -o vendor.pub
head -c 24576 /dev/urandom > fw1.bin; head -c 28000 /dev/urandom > fw2.bin
step "$MOLT" sign -k vendor.pem -v 1.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw1.bin v1.img
step "$MOLT" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw2.bin v2.img
A="Authorization: Bearer $ADMIN"
api() { curl -s -H "$A" "$@"; }
api -d "$(jq -n --rawfile p vendor.pub '{name:"vendor",pem:$p}')" "$U/signers" >/dev/null
api -d '{"name":"sensor","signers":["vendor"]}' "$U/classes" >/dev/null
eq "$(api --data-binary @v2.img "$U/packages?class=sensor" | jq -r .version)" 2.0.0+0 "upload v2"
declare -A TOK
for d in d1 d2 d3 d4; do
  if [ $d = d1 ] || [ $d = d2 ]; then  # the two that run an agent; d3, d4 only answer HTTP
    step "$MOLT" sim create -f $d.sim --sector-size 4096 --slot-sectors 16 --align 8
    step "$MOLT" sim write -f $d.sim --slot primary v1.img
    step "$MOLT" sim iak -f $d.sim -o $d.iak
  else
    cp d1.iak $d.iak
  fi
  TOK[$d]=$(api -d "$(jq -n --arg id $d --rawfile ak $d.iak '{id:$id,class:"sensor",attestation_key:$ak}')" "$U/devices" | jq -r .token)
done
eq "$(api -d '{"name":"v2","package":1,"filter":{"ids":["d1","d2"]}}' "$U/campaigns" | jq -r .targets)" 2 "campaign"
DDI=/DEFAULT/controller/v1
# get NAME URL [curl args]: the status (000: no HTTP answer) in NAME.code, the body in NAME.body
get() { local n=$1 u=$2; shift 2; curl -s -o "$n.body" -w '%{http_code}' "$@" "$u" >"$n.code" 2>"$n.err"; echo $? >"$n.rc"; }
cert() { echo --cacert "$P/ca.pem" --cert "$P/dev-$1.pem" --key "$P/dev-$1.key"; }

# --- the server's certificate
get noca "$S$DDI/d2" -H "Authorization: TargetToken ${TOK[d2]}"
eq "$(cat noca.rc) $(cat noca.code)" "60 000" "HTTPS without the test CA: the certificate is refused"
get tok "$S$DDI/d2" --cacert "$P/ca.pem" -H "Authorization: TargetToken ${TOK[d2]}"
eq "$(cat tok.code)" 200 "HTTPS with the test CA and a token"
eq "$(jq -r '._links.deploymentBase.href' tok.body | cut -d/ -f1-3)" "$S" "links point at the proxy, https"
get notok "$S$DDI/d2" --cacert "$P/ca.pem"
eq "$(cat notok.code)" 401 "through the proxy without token or certificate"

# --- client certificates
get c1 "$S$DDI/d1" $(cert d1)
eq "$(cat c1.code) $(jq -r '._links.deploymentBase.href | test("^https://127.0.0.1:'"$PP"'/DEFAULT/controller/v1/d1/deploymentBase/")' c1.body)" \
   "200 true" "d1 by its certificate, no token"
get c12 "$S$DDI/d2" $(cert d1)
eq "$(cat c12.code) $(jq -r .error c12.body)" "403 client certificate: it names another controller than d2" "d1's certificate as d2"
get c12h "$S$DDI/d2" $(cert d1) -H "X-Ssl-Client-Cn: d2" -H "X-Ssl-Issuer-Hash-1: $ISSUER"
eq "$(cat c12h.code)" 403 "d1's certificate as d2, sending the identity headers itself"
get c12t "$S$DDI/d2/deploymentBase/1" $(cert d1) -H "Authorization: TargetToken ${TOK[d1]}"
eq "$(cat c12t.code)" 403 "d1's certificate and token, acting on d2's action"
get c3 "$S$DDI/d3" $(cert d3)
eq "$(cat c3.code)" 000 "a revoked certificate gets no HTTP answer"
grep -q "000" c3.code && [ "$(cat c3.rc)" != 0 ] && ok || bad "revoked: curl exit $(cat c3.rc)"
get rogue "$S$DDI/d1" --cacert "$P/ca.pem" --cert rogue.pem --key rogue.key
eq "$(cat rogue.code)" 000 "a certificate for d1 from another CA gets no HTTP answer"
get c4 "$S$DDI/d4" $(cert d2)
eq "$(cat c4.code)" 403 "d2's certificate as d4"

# --- the identity headers straight to moltd (not from the trusted proxy): worth nothing
get direct "$D$DDI/d1" -H "X-Ssl-Client-Cn: d1" -H "X-Ssl-Issuer-Hash-1: $ISSUER" -H "X-Forwarded-Proto: https"
eq "$(cat direct.code)" 401 "identity headers sent to moltd directly"
get directt "$D$DDI/d1" -H "X-Ssl-Client-Cn: d2" -H "X-Ssl-Issuer-Hash-1: $ISSUER" -H "X-Forwarded-Proto: https" \
  -H "Authorization: TargetToken ${TOK[d1]}"
eq "$(cat directt.code) $(jq -r '._links.deploymentBase.href | startswith("http://127.0.0.1:'"${ports[0]}"'/DEFAULT/controller/v1/d1/")' directt.body)" \
   "200 true" "direct with d1's token: d1, http links, the headers ignored"
get wrongiss "$D$DDI/d2" -H "X-Ssl-Client-Cn: d2" -H "X-Ssl-Issuer-Hash-1: 00"
eq "$(cat wrongiss.code)" 401 "identity headers with another issuer, direct"
eq "$(api "$U/audit" | jq '[.[] | select(.what | startswith("update."))] | length')" 0 "nothing recorded yet"

# --- molt-agent through the proxy: a wrong CA is refused; d1 by certificate, d2 by token
# the agent's events (docs/agent.md) go to $d.ev, rewritten by every run
agent() { local d=$1; shift; "$MOLT_AGENT" -f $d.sim -k vendor.pub --server "$S" --id $d --backoff-ms 50 --events $d.ev "$@"; }
evq() { jq -rs "$2" "$1"; }   # evq FILE FILTER: a jq filter over the array of one run's events
agent d2 --token "${TOK[d2]}" --once --max-errors 2 --ca-file rogue.pem > d2bad.log 2>&1; eq "$?" 4 "agent with the wrong CA gives up"
eq "$(evq d2.ev '[.[] | select(.event == "error") | "\(.code) \(.detail | test("^SSL peer certificate or SSH remote key was not OK|^SSL certificate problem"))"] | unique | join(", ")')" \
   "transport true" "agent wrong CA: TLS errors only"
agent d1 --once --client-cert "$P/dev-d1.pem" --client-key nonexistent.key > d1bad.log 2>&1; eq "$?" 2 "agent: missing key file"
grep -q "^molt-agent: nonexistent.key: No such file or directory" d1bad.log && ok || bad "agent key file: $(cat d1bad.log)"
before=$(hstat FRONTEND conn_tot)
agent d1 --once --ca-file "$P/ca.pem" --client-cert "$P/dev-d1.pem" --client-key "$P/dev-d1.key" > d1.log 2>&1
eq "$?" 0 "d1 updates by certificate"
after=$(hstat FRONTEND conn_tot)
eq "$(evq d1.ev '.[] | select(.event == "feedback_sent" and .execution == "closed") | "\(.finished) \(.detail | startswith("2.0.0+0 running"))"')" \
   "success true" "d1 feedback"
n=$(evq d1.ev '.[] | select(.event == "connections") | "\(.opened) \(.requests)"')
eq "${n%% *}" 1 "the agent opened one connection for the whole cycle"
[ "${n##* }" -ge 7 ] 2>/dev/null && ok || bad "requests of the cycle: '$n' (poll, deploymentBase, feedback, download, attestation...)"
eq "$((after - before))" 1 "the proxy accepted one connection from d1's agent"
agent d2 --once --ca-file "$P/ca.pem" --token "${TOK[d2]}" > d2.log 2>&1; eq "$?" 0 "d2 updates by token over HTTPS"
eq "$(evq d2.ev '.[] | select(.event == "connections") | .opened')" 1 "d2: one connection for the cycle"
dev() { api "$U/devices/$1" | jq -r '"\(.version) \(.attested_version) \(.action.state)"'; }
eq "$(dev d1)" "2.0.0+0 2.0.0+0 success" "d1 in moltd"
eq "$(dev d2)" "2.0.0+0 2.0.0+0 success" "d2 in moltd"
eq "$(api "$U/audit" | jq -r '[.[] | select(.what == "update.success") | .actor] | sort | join(" ")')" \
   "device:d1 device:d2" "one audit record per update, by the device"
eq "$(api "$U/campaigns/1" | jq -r .state)" finished "campaign finished"
if [ "$N" -gt 1 ]; then
  for s in m1 m2; do [ "$(hstat "$s" stot)" -gt 0 ] && ok || bad "instance $s served nothing"; done
fi
summary "moltd_tls ($N instance(s))"
