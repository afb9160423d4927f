//go:build tools

// Package etcd36build pins etcd 3.6 (go.etcd.io/etcd/server/v3) for the
// Kubernetes tests that run kube-apiserver on etcd 3.6 (watch-list on).
package etcd36build

import _ "go.etcd.io/etcd/server/v3"
