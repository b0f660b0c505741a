//go:build tools

// Package kwok only pins the kwok binary (fake nodes that run pods, and their
// kubelet API for exec, attach, logs and port-forward); `make env` builds it.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
