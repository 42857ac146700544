//go:build !amd64

package engine

// Only the portable kernel is built here.
var (
	archKernels []kernel
	cpuFeatures = map[string]bool{}
)
