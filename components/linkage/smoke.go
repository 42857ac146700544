package linkage

import (
	"fmt"
	"strconv"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// smokeTest runs `linkage smoke` against the public URL once everything is rolled out: it creates a
// project, uploads two parties, runs a linkage, checks the result and deletes the project. Pulumi
// waits for the Job, so a failing test fails the update. The Job is named after the image, the
// settings and the URL, so each rollout that changes one of them is tested again.
func (d *deployer) smokeTest(s SmokeTestArgs) error {
	c, volumes, err := d.container("smoke", nil, s.Resources, nil)
	if err != nil {
		return err
	}
	c.Args = pulumi.StringArray{
		pulumi.String("smoke"), pulumi.String("--api-url"), d.apiURL,
		pulumi.String("--timeout"), pulumi.String(strconv.Itoa(s.TimeoutSeconds) + "s"),
	}
	jobName := pulumi.All(d.args.Image, d.apiURL).ApplyT(func(v []any) string {
		return "linkage-smoke-" + shortHash(fmt.Sprint(v[0], v[1], d.settingsHash))
	}).(pulumi.StringOutput)
	_, err = batchv1.NewJob(d.ctx, d.name+"-smoke", &batchv1.JobArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: jobName, Namespace: d.args.Namespace, Labels: labels("smoke")},
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(1),
			ActiveDeadlineSeconds: pulumi.Int(2*s.TimeoutSeconds + 60),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels("smoke")},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:           pulumi.String(smokeServiceAccount),
					AutomountServiceAccountToken: pulumi.Bool(false),
					RestartPolicy:                pulumi.String("Never"),
					SecurityContext:              podSecurity(),
					NodeSelector:                 pulumi.ToStringMap(d.args.API.NodeSelector),
					Containers:                   corev1.ContainerArray{c},
					Volumes:                      volumes,
				},
			},
		},
	}, d.opts(pulumi.DependsOn(d.workloads), pulumi.DeleteBeforeReplace(true))...)
	if err != nil {
		return fmt.Errorf("smoke test job: %w", err)
	}
	return nil
}
