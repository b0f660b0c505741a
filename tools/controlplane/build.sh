#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go module
# proxy into a cache outside the repository, keyed by version, and prints the bin dir.
# A second run with the binaries present does nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
source <(sed 's/^/export /' "$here/VERSION")
cache="${VCPROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vcproxy}"
bin="$cache/k8s-${KUBERNETES}-etcd-${ETCD}/bin"
wanted=(kube-apiserver kube-controller-manager kubectl etcd)

missing=()
for b in "${wanted[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
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
    *)    (cd "$here" && go build -p 2 -trimpath -ldflags "$ldflags" -o "$bin/$b.tmp" "k8s.io/kubernetes/cmd/$b") ;;
  esac
  mv "$bin/$b.tmp" "$bin/$b"   # only a finished build counts as cached
done
echo "$bin"
