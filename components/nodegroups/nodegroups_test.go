package nodegroups_test

import (
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/components/nodegroups"
)

const ngType = "aws:eks/nodeGroup:NodeGroup"

var workerTypes = []string{"r3.4xlarge", "r4.4xlarge", "r5.4xlarge", "r5a.4xlarge", "r6i.4xlarge"}

func nodeGroupsArgs(highMem bool) *nodegroups.NodeGroupsArgs {
	args := &nodegroups.NodeGroupsArgs{
		ClusterName:       "linkage-prod",
		KubernetesVersion: "1.33",
		SubnetIds:         pulumi.ToStringArray([]string{"subnet-priv-a", "subnet-priv-b"}),
		System:            nodegroups.GroupArgs{InstanceTypes: []string{"m6i.large"}, MinSize: 2, MaxSize: 4, DesiredSize: 2, DiskSizeGiB: 50},
		Worker:            nodegroups.GroupArgs{InstanceTypes: workerTypes, MinSize: 0, MaxSize: 10, DesiredSize: 1, DiskSizeGiB: 100},
		CoreDNSVersion:    "v1.12.1-eksbuild.2",
		InstanceTags:      componenttest.Tags,
	}
	if highMem {
		args.HighMem = &nodegroups.GroupArgs{InstanceTypes: []string{"r5.8xlarge"}, MinSize: 0, MaxSize: 2, DiskSizeGiB: 100}
	}
	return args
}

func TestNodeGroups(t *testing.T) {
	var names []string
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		g, err := nodegroups.NewNodeGroups(ctx, "ng", nodeGroupsArgs(false))
		if err != nil {
			return err
		}
		g.Names.ApplyT(func(v []string) []string { names = v; return v })
		return nil
	})
	require.Len(t, m.ByType(ngType), 2, "no high-memory group unless asked")
	require.Equal(t, []string{"ng-system", "ng-worker"}, names)

	role := componenttest.Find(t, m, "aws:iam/role:Role", "ng-node")
	require.JSONEq(t, `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]}`,
		componenttest.Policy(t, role, "assumeRolePolicy").JSON())
	var attached []string
	for _, a := range m.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
		attached = append(attached, fmt.Sprint(a.Input("policyArn")))
	}
	require.ElementsMatch(t, []string{
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
		"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
		"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
	}, attached, "the CNI policy belongs to vpc-cni's IRSA role, not to every node")

	system := componenttest.Find(t, m, ngType, "ng-system")
	require.Equal(t, "ON_DEMAND", system.Input("capacityType"))
	require.Equal(t, []any{"m6i.large"}, system.Input("instanceTypes"))
	require.Equal(t, map[string]any{"role": "system"}, system.Input("labels"))
	require.Nil(t, system.Input("taints"))

	worker := componenttest.Find(t, m, ngType, "ng-worker")
	require.Equal(t, "SPOT", worker.Input("capacityType"))
	require.Equal(t, []any{"r3.4xlarge", "r4.4xlarge", "r5.4xlarge", "r5a.4xlarge", "r6i.4xlarge"}, worker.Input("instanceTypes"))
	require.Equal(t, map[string]any{"role": "linkage-worker"}, worker.Input("labels"))
	require.Equal(t, []any{map[string]any{"key": "linkage/worker", "value": "true", "effect": "NO_SCHEDULE"}}, worker.Input("taints"))
	require.Equal(t, map[string]any{"minSize": 0.0, "maxSize": 10.0, "desiredSize": 1.0}, worker.Input("scalingConfig"))

	for _, g := range []string{"ng-system", "ng-worker"} {
		ng := componenttest.Find(t, m, ngType, g)
		require.Equal(t, "AL2023_x86_64_STANDARD", ng.Input("amiType"), g)
		require.Equal(t, "linkage-prod", ng.Input("clusterName"), g)
		require.Equal(t, "1.33", ng.Input("version"), g)
		require.Equal(t, []any{"subnet-priv-a", "subnet-priv-b"}, ng.Input("subnetIds"), g)
		require.Equal(t, role.Outputs["arn"].StringValue(), ng.Input("nodeRoleArn"), g)
		require.Equal(t, []string{"scalingConfig.desiredSize"}, ng.IgnoreChanges, "%s: the autoscaler owns the desired size", g)

		lt := componenttest.Find(t, m, "aws:ec2/launchTemplate:LaunchTemplate", g)
		require.Equal(t, lt.ID, ng.Input("launchTemplate.id"), g)
		require.Equal(t, map[string]any{"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1.0},
			lt.Input("metadataOptions"), "%s: IMDSv2 only, not reachable from pods", g)
		require.Equal(t, "gp3", lt.Input("blockDeviceMappings[0].ebs.volumeType"), g)
		require.Equal(t, "true", lt.Input("blockDeviceMappings[0].ebs.encrypted"), g)
		require.NotContains(t, lt.Inputs, "imageId", "EKS picks the AMI for the AMI type")
		for i, kind := range []string{"instance", "volume"} {
			spec := fmt.Sprintf("tagSpecifications[%d]", i)
			require.Equal(t, kind, lt.Input(spec+".resourceType"), g)
			require.Equal(t, map[string]string{"Name": g, "project": "linkage", "stack": "test"}, componenttest.StringMap(t, lt.Input(spec+".tags")),
				"%s: launched %ss carry the stack's tags (provider default tags do not reach them)", g, kind)
		}
	}
	require.Equal(t, 100.0, componenttest.Find(t, m, "aws:ec2/launchTemplate:LaunchTemplate", "ng-worker").
		Input("blockDeviceMappings[0].ebs.volumeSize"))

	coredns := componenttest.Find(t, m, "aws:eks/addon:Addon", "ng-coredns")
	require.Equal(t, "coredns", coredns.Input("addonName"))
	require.Equal(t, "v1.12.1-eksbuild.2", coredns.Input("addonVersion"))
	require.True(t, componenttest.DependsOn(coredns, system), "CoreDNS needs nodes to become active")
}

func TestNodeGroupsHighMemory(t *testing.T) {
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		_, err := nodegroups.NewNodeGroups(ctx, "ng", nodeGroupsArgs(true))
		return err
	})
	hm := componenttest.Find(t, m, ngType, "ng-highmem")
	require.Equal(t, "SPOT", hm.Input("capacityType"))
	require.Equal(t, map[string]any{"role": "linkage-worker-highmem"}, hm.Input("labels"))
	require.Equal(t, []any{map[string]any{"key": "linkage/worker", "value": "highmem", "effect": "NO_SCHEDULE"}}, hm.Input("taints"))
}

func TestNodeGroupsRejectAGroupWithoutInstanceTypes(t *testing.T) {
	_, err := componenttest.RunErr(func(ctx *pulumi.Context) error {
		args := nodeGroupsArgs(false)
		args.Worker.InstanceTypes = nil
		_, err := nodegroups.NewNodeGroups(ctx, "ng", args)
		return err
	})
	require.ErrorContains(t, err, "node group ng-worker: no instance types")
}

// An empty group tells the cluster autoscaler its nodes' label and taint through tags on its Auto
// Scaling group (the one EKS reports for the group), and no node boots before what After names.
func TestNodeGroupsTagTheirAutoScalingGroupsForScaleFromZero(t *testing.T) {
	var cni *pulumi.CustomResourceState
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		cni = &pulumi.CustomResourceState{}
		if err := ctx.RegisterResource("aws:eks/addon:Addon", "vpc-cni", pulumi.Map{}, cni); err != nil {
			return err
		}
		args := nodeGroupsArgs(true)
		args.After = []pulumi.Resource{cni}
		_, err := nodegroups.NewNodeGroups(ctx, "ng", args)
		return err
	})
	addon := componenttest.Find(t, m, "aws:eks/addon:Addon", "vpc-cni")
	tags := map[string]map[string]string{}
	for _, tag := range m.ByType("aws:autoscaling/tag:Tag") {
		asg := tag.Input("autoscalingGroupName").(string)
		if tags[asg] == nil {
			tags[asg] = map[string]string{}
		}
		tags[asg][tag.Input("tag.key").(string)] = tag.Input("tag.value").(string)
		require.Equal(t, false, tag.Input("tag.propagateAtLaunch"))
	}
	asgOf := func(g string) string {
		ng := componenttest.Find(t, m, ngType, g)
		require.True(t, componenttest.DependsOn(ng, addon), "%s boots after the vpc-cni add-on", g)
		return ng.Outputs["resources"].ArrayValue()[0].ObjectValue()["autoscalingGroups"].ArrayValue()[0].ObjectValue()["name"].StringValue()
	}
	require.Equal(t, map[string]string{
		"k8s.io/cluster-autoscaler/node-template/label/role":           "linkage-worker",
		"k8s.io/cluster-autoscaler/node-template/taint/linkage/worker": "true:NoSchedule",
	}, tags[asgOf("ng-worker")])
	require.Equal(t, map[string]string{
		"k8s.io/cluster-autoscaler/node-template/label/role":           "linkage-worker-highmem",
		"k8s.io/cluster-autoscaler/node-template/taint/linkage/worker": "highmem:NoSchedule",
	}, tags[asgOf("ng-highmem")])
	require.Equal(t, map[string]string{"k8s.io/cluster-autoscaler/node-template/label/role": "system"}, tags[asgOf("ng-system")])
}
