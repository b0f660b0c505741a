//go:build tools

// Package etcd only pins the etcd server binary; `make env` builds it.
package etcd

import _ "go.etcd.io/etcd/server/v3"
