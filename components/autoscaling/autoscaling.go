// Package autoscaling makes the cluster's capacity follow its pods: the Kubernetes Cluster Autoscaler
// (pinned Helm chart, image of the cluster's minor version) resizes the managed node groups, which it
// discovers by the tags EKS puts on their Auto Scaling groups, through an IRSA role that may only resize
// this cluster's groups; metrics-server (pinned chart) gives the HorizontalPodAutoscalers their CPU
// figures.
package autoscaling

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/irsa"
)

// Names the policy rules and the node groups rely on.
const (
	AutoscalerChart       = "cluster-autoscaler"
	AutoscalerRepo        = "https://kubernetes.github.io/autoscaler"
	AutoscalerAccount     = "cluster-autoscaler"
	MetricsServerChart    = "metrics-server"
	MetricsServerRepo     = "https://kubernetes-sigs.github.io/metrics-server/"
	Namespace             = "kube-system"
	roleArnKey            = "eks.amazonaws.com/role-arn"
	criticalPriorityClass = "system-cluster-critical"
)

// OwnedTag is the tag EKS puts on a managed node group's Auto Scaling group (value "owned"): the
// autoscaler discovers the groups by it, and its role may resize only groups that carry it.
func OwnedTag(clusterName string) string { return "k8s.io/cluster-autoscaler/" + clusterName }

// AutoscalingArgs configures Autoscaling.
type AutoscalingArgs struct {
	ClusterName string
	Region      string
	OIDC        irsa.OIDC
	// AutoscalerChartVersion pins the cluster-autoscaler chart; AutoscalerImageTag is the autoscaler's
	// release, whose minor version must be the cluster's (e.g. v1.35.0 for 1.35).
	AutoscalerChartVersion string
	AutoscalerImageTag     string
	// MetricsServerChartVersion pins the metrics-server chart.
	MetricsServerChartVersion string
	// NodeSelector keeps both on the on-demand system nodes: the autoscaler must not run on a node
	// it may remove.
	NodeSelector map[string]string
	Provider     *kubernetes.Provider
	// After must exist before both are installed: nodes to run them (a component's DependsOn does not
	// reach its children).
	After []pulumi.Resource
}

// Autoscaling is the cluster autoscaler and metrics-server.
type Autoscaling struct {
	pulumi.ResourceState

	RoleArn       pulumi.StringOutput
	Autoscaler    *helmv3.Release
	MetricsServer *helmv3.Release
}

// Policy is the autoscaler's IAM policy, after the upstream "full features" policy of the AWS cloud
// provider (cluster-autoscaler/cloudprovider/aws/README.md): it may read every group and instance type,
// and change only the Auto Scaling groups of this cluster.
func Policy(clusterName string) iampolicy.Document {
	resize := iampolicy.Allow("ResizeThisClustersGroups",
		[]string{"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}, "*")
	resize.Condition = map[string]map[string]iampolicy.Strings{
		"StringEquals": {"aws:ResourceTag/" + OwnedTag(clusterName): {"owned"}},
	}
	return iampolicy.New(
		iampolicy.Allow("Discover", []string{
			"autoscaling:DescribeAutoScalingGroups",
			"autoscaling:DescribeAutoScalingInstances",
			"autoscaling:DescribeLaunchConfigurations",
			"autoscaling:DescribeScalingActivities",
			"autoscaling:DescribeTags",
			"ec2:DescribeImages",
			"ec2:DescribeInstanceTypes",
			"ec2:DescribeLaunchTemplateVersions",
			"ec2:GetInstanceTypesFromInstanceRequirements",
			// Labels and taints of a managed node group that has no node yet (scale from zero).
			"eks:DescribeNodegroup",
		}, "*"),
		resize,
	)
}

// NewAutoscaling declares the autoscaler and metrics-server.
func NewAutoscaling(ctx *pulumi.Context, name string, args *AutoscalingArgs, opts ...pulumi.ResourceOption) (*Autoscaling, error) {
	if args.Provider == nil || args.ClusterName == "" || args.Region == "" || args.AutoscalerImageTag == "" {
		return nil, errors.New("autoscaling: cluster name, region, autoscaler image tag and Kubernetes provider are required")
	}
	a := &Autoscaling{}
	if err := ctx.RegisterComponentResource("linkage:components:Autoscaling", name, a, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(a)
	k8s := []pulumi.ResourceOption{parent, pulumi.Provider(args.Provider)}

	role, err := irsa.NewRole(ctx, name+"-cluster-autoscaler", &irsa.RoleArgs{
		OIDC: args.OIDC, Namespace: Namespace, ServiceAccount: AutoscalerAccount,
		Policy: pulumi.String(Policy(args.ClusterName).JSON()),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("autoscaling %s: autoscaler role: %w", name, err)
	}
	a.RoleArn = role.Arn

	release := func(suffix, chart, repo, version string, values pulumi.Map, more ...pulumi.ResourceOption) (*helmv3.Release, error) {
		return helmv3.NewRelease(ctx, name+"-"+suffix, &helmv3.ReleaseArgs{
			Name:           pulumi.String(chart),
			Chart:          pulumi.String(chart),
			Version:        pulumi.String(version),
			RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(repo)},
			Namespace:      pulumi.String(Namespace),
			Atomic:         pulumi.Bool(true),
			CleanupOnFail:  pulumi.Bool(true),
			Timeout:        pulumi.Int(600),
			Values:         values,
		}, append(append(k8s, pulumi.DependsOn(args.After)), more...)...)
	}
	a.Autoscaler, err = release("cluster-autoscaler", AutoscalerChart, AutoscalerRepo, args.AutoscalerChartVersion, pulumi.Map{
		"cloudProvider": pulumi.String("aws"),
		"awsRegion":     pulumi.String(args.Region),
		// Finds the groups tagged k8s.io/cluster-autoscaler/enabled and .../<cluster>, as EKS tags
		// every managed node group's Auto Scaling group.
		"autoDiscovery": pulumi.Map{"clusterName": pulumi.String(args.ClusterName)},
		"image":         pulumi.Map{"tag": pulumi.String(args.AutoscalerImageTag)},
		"rbac": pulumi.Map{"serviceAccount": pulumi.Map{
			"create":      pulumi.Bool(true),
			"name":        pulumi.String(AutoscalerAccount),
			"annotations": pulumi.Map{roleArnKey: role.Arn},
		}},
		"extraArgs": pulumi.Map{
			// The worker groups list several same-shape types: treat them as one shape.
			"balance-similar-node-groups": pulumi.Bool(true),
			"expander":                    pulumi.String("least-waste"),
			// CoreDNS and the controllers' pods must not pin a system node forever.
			"skip-nodes-with-system-pods": pulumi.Bool(false),
		},
		"priorityClassName": pulumi.String(criticalPriorityClass),
		"nodeSelector":      pulumi.ToStringMap(args.NodeSelector),
	}, pulumi.DependsOn([]pulumi.Resource{role}))
	if err != nil {
		return nil, fmt.Errorf("autoscaling %s: cluster autoscaler: %w", name, err)
	}
	a.MetricsServer, err = release("metrics-server", MetricsServerChart, MetricsServerRepo, args.MetricsServerChartVersion, pulumi.Map{
		// Two replicas and a disruption budget: the HPAs go blind while it is down.
		"replicas":            pulumi.Int(2),
		"podDisruptionBudget": pulumi.Map{"enabled": pulumi.Bool(true), "maxUnavailable": pulumi.Int(1)},
		"priorityClassName":   pulumi.String(criticalPriorityClass),
		"nodeSelector":        pulumi.ToStringMap(args.NodeSelector),
	})
	if err != nil {
		return nil, fmt.Errorf("autoscaling %s: metrics-server: %w", name, err)
	}

	if err := ctx.RegisterResourceOutputs(a, pulumi.Map{"roleArn": a.RoleArn}); err != nil {
		return nil, err
	}
	return a, nil
}
