//go:build tools

// Package tools records the KWOK command that hack/cluster builds from this
// module. KWOK v0.7 is built against Kubernetes 0.33 libraries, so it keeps a
// module of its own instead of sharing the JobSet or Kubernetes one.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
