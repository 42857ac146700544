// Command infra is the Pulumi program of the linkage platform (Pulumi.yaml points here).
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/stacks"
)

func main() {
	pulumi.Run(stacks.Run)
}
