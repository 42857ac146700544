// Package componenttest holds the behaviour tests of the platform components (network, cluster,
// nodegroups, storage, ingress, irsa) under Pulumi mocks. They share one package because every test
// binary that imports the Pulumi SDKs peaks at ~5 GiB while it links (measured 5.1 GB; 187 s to build on
// 2 loaded cores): one binary for these components instead of one each (see README, Layout).
package componenttest
