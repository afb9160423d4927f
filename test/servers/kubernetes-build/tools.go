//go:build tools

// Package kubernetesbuild pins k8s.io/kubernetes so that `go build` can
// build kube-apiserver and kube-controller-manager from the module proxy.
package kubernetesbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
