#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok
# from the Go module proxy into a cache outside the repository, keyed by version, and
# prints the bin dir. Only missing binaries are built; a second run does nothing. The
# directory is keyed by the Kubernetes and etcd versions; kwok (its own module, kwok/)
# carries its version in bin/kwok.version, so a kwok bump rebuilds kwok alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
source <(sed 's/^/export /' "$here/VERSION")
cache="${VCPROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vcproxy}"
bin="$cache/k8s-${KUBERNETES}-etcd-${ETCD}/bin"
wanted=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)
grep -q "sigs.k8s.io/kwok ${KWOK}\$" "$here/kwok/go.mod" || {
  echo "tools/controlplane/kwok/go.mod does not require sigs.k8s.io/kwok ${KWOK} (VERSION)" >&2; exit 1; }

missing=()
for b in "${wanted[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ -x "$bin/kwok" ] && [ "$(cat "$bin/kwok.version" 2>/dev/null)" != "$KWOK" ]; then missing+=(kwok); fi
if [ ${#missing[@]} -eq 0 ]; then echo "$bin"; exit 0; fi

mkdir -p "$bin"
export GOFLAGS="-buildvcs=false -mod=readonly" CGO_ENABLED=0
minor="${KUBERNETES#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=${KUBERNETES} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

for b in "${missing[@]}"; do
  echo "building $b into $bin (a cold build takes several minutes)" >&2
  case "$b" in
    etcd) (cd "$here/etcd" && go build -p 2 -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3) ;;
    kwok) (cd "$here/kwok" && go build -p 2 -trimpath -ldflags "-s -w" -o "$bin/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok) ;;
    *)    (cd "$here" && go build -p 2 -trimpath -ldflags "$ldflags" -o "$bin/$b.tmp" "k8s.io/kubernetes/cmd/$b") ;;
  esac
  mv "$bin/$b.tmp" "$bin/$b"   # only a finished build counts as cached
  if [ "$b" = kwok ]; then echo "$KWOK" > "$bin/kwok.version"; fi
done
echo "$bin"
