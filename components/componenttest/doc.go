// Package componenttest holds the behaviour tests of the platform components (network, cluster,
// nodegroups, storage, ingress, irsa) under Pulumi mocks. They share one package because every test
// binary that imports the Pulumi SDKs costs ~20 s and ~5 GiB to link: one binary for all components
// instead of one each.
package componenttest
