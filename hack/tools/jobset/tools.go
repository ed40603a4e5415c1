//go:build tools

// Package tools records the JobSet controller that hack/cluster builds from
// this module. The module also pins the JobSet version whose CRD and webhook
// manifests hack/cluster reads from the module cache.
package tools

import _ "sigs.k8s.io/jobset"
