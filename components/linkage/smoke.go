package linkage

import (
	"fmt"
	"strconv"

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
	_, err = d.job("smoke", smokeServiceAccount, jobName, 1, 2*s.TimeoutSeconds+60, c, volumes, pulumi.DependsOn(d.workloads))
	if err != nil {
		return fmt.Errorf("smoke test job: %w", err)
	}
	return nil
}
