//go:build !amd64

package engine

func accelerated() (kernel, bool) { return kernel{}, false }
