// Package container holds what every container the components declare is sized with: its CPU and
// memory requests and limits. The data services, the app and the stack configuration share it.
package container

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resources are a container's requests and limits as Kubernetes quantities ("250m", "2Gi"). The JSON
// names are the stack configuration's keys (linkage:api.resources.cpuRequest, …); stacks/ checks them.
type Resources struct {
	CPURequest    string `json:"cpuRequest"`
	CPULimit      string `json:"cpuLimit"`
	MemoryRequest string `json:"memoryRequest"`
	MemoryLimit   string `json:"memoryLimit"`
}

// Args are the container spec's resources field.
func (r Resources) Args() *corev1.ResourceRequirementsArgs {
	return &corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String(r.CPURequest), "memory": pulumi.String(r.MemoryRequest)},
		Limits:   pulumi.StringMap{"cpu": pulumi.String(r.CPULimit), "memory": pulumi.String(r.MemoryLimit)},
	}
}
