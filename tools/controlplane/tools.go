//go:build tools

// Package controlplane only pins the binaries vcproxy is tested against; it has
// no code of its own. `make env` builds these commands into a cache outside the
// repository.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
