#!/usr/bin/env bash
# A real multi-node Docker Swarm on this one machine, for tests/swarm (README "Running on a
# swarm"). Privileged containers are impossible here, so each node is a Docker engine of its
# own in a network namespace of its own, entered with `nsenter --net=` (`ip netns exec`
# remounts /sys, and dockerd then fails with "Devices cgroup isn't mounted"); the host
# engine's FORWARD policy is DROP, so bridged packets need a DOCKER-USER accept rule:
#
#   host: bridge $BRIDGE ($NET.1), Debian's docker-registry on $NET.1:5000 (plain HTTP, login)
#   node1 $NET.2  manager (the hub and Postgres run here)
#   node2 $NET.3  worker  } users' servers
#   node3 $NET.4  worker  }
#   storage $NET.20  an sshd (port 2222, internal-sftp) serving $DATA/storage/export
#
# Shared storage without NFS (this kernel has neither NFS nor CIFS, but FUSE works): each
# node's engine runs in a mount namespace of its own (unshare -m, private propagation) in
# which `sshfs` mounts the storage node's export at $SHARED, over the node's own network
# namespace. So every node sees the same files at the same path, and they really cross the
# network; on the host, $SHARED stays an empty directory (a plain host directory can never
# pass for the shared file system: a node whose mount failed lacks users' directories).
#
# usage: tests/swarm/cluster.sh up|down|status|env|disconnect N|reconnect N
#   up      idempotent: makes what is missing, reuses what is there (a crashed run is
#           first taken down completely, so "up" after anything starts from a known state)
#   down    stops the engines and the registry, removes namespaces, veths, the bridge, the
#           firewall rule and every data directory; safe to run at any time, any number of times
#   env     prints NODE<n>_HOST=unix://..., REGISTRY, REGISTRY_USER, REGISTRY_PASSWORD, SHARED,
#           STORAGE_EXPORT lines
#   disconnect N / reconnect N   cut node N's network (a lost machine) / restore it
#   mount N [OPT]  mount the shared path again in node N's engine's mount namespace (sshfs options after N)
#
# Only addresses inside $NET.0/24 (our bridge and namespaces) are ever contacted.
set -euo pipefail
SELF=$(realpath "$0")

NAME=${SWARM_NAME:-pyhswarm}          # prefix of every object this script makes
NET=${SWARM_NET:-10.233.0}             # /24 of the bridge; must be free on the host
NODES=${SWARM_NODES:-3}
BRIDGE=${NAME}0
RUN=${SWARM_RUN:-/run/$NAME}           # sockets, pid files (short paths: unix sockets max 108)
DATA=${SWARM_DATA:-/var/tmp/$NAME}     # engines' data roots, the registry's storage, logs
REGISTRY=$NET.1:5000
STORAGE_IP=$NET.20
SHARED=$RUN/shared                     # where every node mounts the storage node's export
EXPORT=$DATA/storage/export
# allow_other: users' servers run as uid 1000, not as root who mounted it.
SSHFS=(sshfs -p 2222 -o "IdentityFile=$DATA/storage/client_key,allow_other,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null"
       -o ServerAliveInterval=5,ServerAliveCountMax=3 "root@$STORAGE_IP:$EXPORT" "$SHARED")
REGISTRY_USER=$NAME                    # its password: made by "up", printed by "env"
DOCKER=${DOCKER:-/usr/bin/docker}

log() { printf '[cluster.sh] %s\n' "$*" >&2; }
die() { printf '[cluster.sh] ERROR: %s\n' "$*" >&2; exit 1; }

ns() { echo "$NAME-$1"; }
sock() { echo "unix://$RUN/node$1.sock"; }
node_docker() { local n=$1; shift; "$DOCKER" -H "$(sock "$n")" "$@"; }
firewall_rule=(DOCKER-USER -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT)

kill_pidfiles() {  # stop the processes named by these pid files (if still the ones we started), together
    local file pid i pids=()
    for file in "$@"; do
        [ -f "$file" ] || continue
        pid=$(cat "$file" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$file"
    done
    for pid in "${pids[@]}"; do
        for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    done
}

down() {
    local n files=() t0=$SECONDS steps=""
    # Every engine leaves the swarm first, so that it stops its tasks quickly; all at once.
    for n in $(seq 1 "$NODES"); do
        if [ -S "$RUN/node$n.sock" ]; then
            timeout 20 "$DOCKER" -H "$(sock "$n")" swarm leave --force >/dev/null 2>&1 &
        fi
        files+=("$RUN/node$n.pid")
    done
    wait
    steps+=" left the swarm $((SECONDS - t0)) s;"
    kill_pidfiles "${files[@]}"
    steps+=" engines stopped $((SECONDS - t0)) s;"
    for n in $(seq 1 "$NODES"); do
        # The engine's own containerd and shims live in the namespace; whatever is left there
        # was started by this engine and dies with the namespace's processes.
        if [ -e "/var/run/netns/$(ns "$n")" ]; then
            for pid in $(ip netns pids "$(ns "$n")" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        fi
        # Mounts the engine left behind (overlay layers, netns files, shm) keep the data dir busy.
        grep -o " $DATA/node$n[^ ]*\| $RUN/node$n[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done || true
        ip netns delete "$(ns "$n")" 2>/dev/null || true
        ip link delete "${NAME}h$n" 2>/dev/null || true
    done
    kill_pidfiles "$RUN/registry.pid" "$RUN/storage.pid"
    if [ -e "/var/run/netns/$(ns storage)" ]; then
        for pid in $(ip netns pids "$(ns storage)" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    fi
    ip netns delete "$(ns storage)" 2>/dev/null || true
    ip link delete "${NAME}hs" 2>/dev/null || true
    while iptables -C "${firewall_rule[@]}" 2>/dev/null; do iptables -D "${firewall_rule[@]}"; done
    ip link delete "$BRIDGE" 2>/dev/null || true
    steps+=" namespaces removed $((SECONDS - t0)) s"
    rm -rf "$RUN"
    # The engines' data roots (the images every node pulled): removing their files took 36 s
    # on an idle machine, waiting on the disk. Renamed at once and removed in the background,
    # so that whatever comes next need not wait.
    if [ -e "$DATA" ]; then
        local trash
        trash=$(mktemp -d "$(dirname "$DATA")/.$NAME-removing.XXXXXX")
        mv "$DATA" "$trash/"
        setsid nice -n 19 rm -rf "$trash" </dev/null >/dev/null 2>&1 &
    fi
    log "down: engines stopped; namespaces, veths, bridge $BRIDGE, firewall rule removed; $DATA removed in the background (after:$steps)"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

add_netns() {  # add_netns NAME SUFFIX ADDRESS: a namespace on the bridge, reached by a veth pair
    local netns=$1 suffix=$2 address=$3
    [ -e "/var/run/netns/$netns" ] && return 0
    ip netns add "$netns"
    ip link add "${NAME}h$suffix" type veth peer name "${NAME}n$suffix"
    ip link set "${NAME}n$suffix" netns "$netns"
    ip link set "${NAME}h$suffix" master "$BRIDGE" up
    nsenter --net="/var/run/netns/$netns" sh -c "
        ip link set lo up &&
        ip link set ${NAME}n$suffix name eth0 &&
        ip addr add $address/24 dev eth0 &&
        ip link set eth0 up &&
        ip route add default via $NET.1"
}

start_storage() {
    # The storage node: Debian's sshd with a config of its own, in its own network
    # namespace; root logs in with the cluster's key only and gets internal-sftp (what
    # sshfs speaks). It writes every file as root: see README, what the stand-in proves.
    local dir=$DATA/storage
    mkdir -p "$EXPORT" /run/sshd  # /run/sshd: sshd's privilege separation directory
    chmod 0755 "$EXPORT"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    printf '%s\n' "Port 2222" "ListenAddress $STORAGE_IP" "HostKey $dir/host_key" \
        "AuthorizedKeysFile $dir/authorized_keys" "PermitRootLogin prohibit-password" \
        "PasswordAuthentication no" "KbdInteractiveAuthentication no" "UsePAM no" \
        "StrictModes no" "PidFile $RUN/storage.pid" "Subsystem sftp internal-sftp" >"$dir/sshd_config"
    add_netns "$(ns storage)" s "$STORAGE_IP"
    nsenter --net="/var/run/netns/$(ns storage)" /usr/sbin/sshd -f "$dir/sshd_config" -E "$DATA/storage.log"
}

start_engine() {
    local n=$1 dir=$DATA/node$n
    mkdir -p "$dir/data" "$dir/exec" "$SHARED"
    echo '{}' >"$dir/daemon.json"  # not /etc/docker/daemon.json: that is the host engine's
    add_netns "$(ns "$n")" "$n" "$NET.$((n + 1))"
    # nsenter --net, not `ip netns exec`: that remounts /sys, and dockerd then finds no
    # devices cgroup. unshare -m: a mount namespace of the engine's own, in which sshfs
    # (over this node's network) mounts the storage node's export at $SHARED before the
    # engine starts (engine_here), so that the engine's containers see it; the host sees
    # nothing of it. setsid: the engine outlives this script; it is stopped by `down`.
    setsid nsenter --net="/var/run/netns/$(ns "$n")" unshare -m --propagation private "$SELF" engine-here "$n" \
        </dev/null >"$DATA/node$n.log" 2>&1 &
}

engine_here() {  # in node N's network and mount namespaces: mount the shared path, become its engine
    local n=$1 dir=$DATA/node$1
    "${SSHFS[@]}" || die "node$n: sshfs could not mount $STORAGE_IP:$EXPORT at $SHARED"
    exec dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
        -H "$(sock "$n")" --pidfile "$RUN/node$n.pid" --insecure-registry "$REGISTRY" --log-level warn
}

up() {
    [ "$(id -u)" = 0 ] || die "needs root (network namespaces, a bridge, firewall rules)"
    if ip route show | grep -q "$NET.0/24" && ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        die "$NET.0/24 is in use by another interface; choose SWARM_NET"
    fi
    if [ -S "$RUN/node1.sock" ] && "$DOCKER" -H "$(sock 1)" node ls >/dev/null 2>&1 \
        && [ "$("$DOCKER" -H "$(sock 1)" node ls -q | wc -l)" = "$NODES" ]; then
        log "up: already running"
        return 0
    fi
    down  # a half-made or crashed cluster: start from nothing
    local missing=()
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    command -v sshfs >/dev/null || missing+=(sshfs)
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    mkdir -p "$RUN" "$DATA/registry"
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    # The host engine's FORWARD policy is DROP and bridged frames pass iptables.
    iptables -I "${firewall_rule[@]}"

    # The registry every node pulls from (Debian's docker-registry 2.8, the real one), private
    # as an institute's is: every pull and push needs the login (htpasswd, bcrypt).
    umask 077
    python3 -c 'import secrets; print(secrets.token_hex(16))' >"$DATA/registry.password"
    python3 -W ignore -c 'import crypt, sys; print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
        "$REGISTRY_USER" "$(cat "$DATA/registry.password")" >"$DATA/registry.htpasswd"
    umask 022
    cat >"$DATA/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $DATA/registry}
  delete: {enabled: true}
http: {addr: "$REGISTRY"}
auth:
  htpasswd: {realm: $NAME, path: $DATA/registry.htpasswd}
EOF
    setsid sh -c "echo \$\$ >'$RUN/registry.pid'; exec docker-registry serve '$DATA/registry.yml'" \
        </dev/null >"$DATA/registry.log" 2>&1 &

    start_storage
    local n
    for n in $(seq 1 "$NODES"); do start_engine "$n"; done
    for n in $(seq 1 "$NODES"); do
        wait_for 90 "engine $n" "$DOCKER" -H "$(sock "$n")" info \
            || { tail -20 "$DATA/node$n.log" >&2; die "engine node$n did not start (log: $DATA/node$n.log)"; }
    done
    wait_for 30 registry curl -sf -u "$REGISTRY_USER:$(cat "$DATA/registry.password")" "http://$REGISTRY/v2/" || { cat "$DATA/registry.log" >&2; die "registry did not start"; }

    node_docker 1 swarm init --advertise-addr "$NET.2" --listen-addr "$NET.2:2377" >/dev/null
    local token
    token=$(node_docker 1 swarm join-token -q worker)
    for n in $(seq 2 "$NODES"); do
        node_docker "$n" swarm join --token "$token" --advertise-addr "$NET.$((n + 1))" "$NET.2:2377" >/dev/null
    done
    wait_for 60 "nodes ready" sh -c "[ \$('$DOCKER' -H '$(sock 1)' node ls --format '{{.Status}}' | grep -c Ready) = $NODES ]" \
        || die "not every node became Ready: $(node_docker 1 node ls)"
    # Every node reports the host name "vm" (one UTS namespace): a label tells them apart.
    for n in $(seq 1 "$NODES"); do
        node_docker 1 node update --label-add "pyiron-hub.test-node=node$n" "$(node_docker "$n" info --format '{{.Swarm.NodeID}}')" >/dev/null
    done
    log "up: $NODES nodes Ready, registry at $REGISTRY"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) for n in $(seq 1 "$NODES"); do echo "node$n: $(node_docker "$n" info --format '{{.Swarm.NodeID}} {{.Swarm.LocalNodeState}}' 2>&1)"; done ;;
    # A node lost as a machine is lost: its network cut (its engine and tasks run on, unseen).
    disconnect) ip link set "${NAME}h${2:?node number}" down ;;
    # The shared path mounted again in node N's engine's namespace (after a test unmounted it),
    # with sshfs options of the test's after N (e.g. -o ro).
    mount) nsenter --mount="/proc/$(cat "$RUN/node${2:?node number}.pid")/ns/mnt" --net="/var/run/netns/$(ns "$2")" \
               "${SSHFS[@]}" "${@:3}" ;;
    engine-here) engine_here "${2:?node number}" ;;
    reconnect) ip link set "${NAME}h${2:?node number}" up ;;
    env) for n in $(seq 1 "$NODES"); do echo "NODE${n}_HOST=$(sock "$n")"; done; echo "REGISTRY=$REGISTRY"
         echo "REGISTRY_USER=$REGISTRY_USER"; echo "REGISTRY_PASSWORD=$(cat "$DATA/registry.password" 2>/dev/null)"
         echo "SHARED=$SHARED"; echo "STORAGE_EXPORT=$EXPORT" ;;
    *) die "usage: $0 up|down|status|env|disconnect N|reconnect N|mount N [sshfs options]" ;;
esac
