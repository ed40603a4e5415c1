//go:build tools

// Package tools records the etcd server command that hack/cluster builds from
// this module. etcd is kept in its own module so that its dependency versions
// (gRPC, OpenTelemetry) do not have to agree with those of Kubernetes.
package tools

import _ "go.etcd.io/etcd/server/v3"
