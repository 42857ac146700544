// Package nodegroups is the cluster's compute: an on-demand system group for the API and cluster add-ons,
// a spot worker group (r3.4xlarge first, same-shape fallbacks) tainted for linkage workers, and an
// optional high-memory spot group. All are EKS managed node groups on AL2023 with launch templates that
// require IMDSv2 and encrypt the gp3 root volume.
package nodegroups

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/cluster"
	"github.com/linkage-platform/linkage/components/iampolicy"
)

// Scheduling contract with the workloads: the label key and values of each group and the taint that
// keeps everything but linkage workers off the spot groups.
const (
	RoleLabel           = "role"
	SystemRole          = "system"
	WorkerRole          = "linkage-worker"
	HighMemRole         = "linkage-worker-highmem"
	WorkerTaintKey      = "linkage/worker"
	WorkerTaintValue    = "true"
	HighMemTaintValue   = "highmem"
	WorkerTaintEffect   = "NO_SCHEDULE" // NoSchedule in Kubernetes terms
	AmiType             = "AL2023_x86_64_STANDARD"
	rootDevice          = "/dev/xvda"
	imdsHopLimit        = 1 // pods (not host-network) can't reach IMDS: they use IRSA
	maxUnavailablePct   = 33
	capacityOnDemand    = "ON_DEMAND"
	capacitySpot        = "SPOT"
	nodePolicyArnPrefix = "arn:aws:iam::aws:policy/"
)

// GroupArgs sizes one node group.
type GroupArgs struct {
	InstanceTypes []string
	MinSize       int
	MaxSize       int
	// DesiredSize is only the initial size: the cluster autoscaler owns it afterwards (from MinSize,
	// which may be 0, to MaxSize).
	DesiredSize int
	DiskSizeGiB int
}

// NodeGroupsArgs configures NodeGroups.
type NodeGroupsArgs struct {
	ClusterName       string
	KubernetesVersion string
	SubnetIds         pulumi.StringArrayInput // private subnets
	System            GroupArgs
	Worker            GroupArgs
	HighMem           *GroupArgs // optional
	// CoreDNSVersion pins the CoreDNS add-on, installed once the system group can run it.
	CoreDNSVersion string
	// After must exist before any node boots: the control plane and the vpc-cni add-on.
	After []pulumi.Resource
	// InstanceTags go on the nodes and their root volumes through the launch templates: the AWS
	// provider's default tags reach the templates but not what they launch.
	InstanceTags map[string]string
}

// NodeGroups are the managed node groups.
type NodeGroups struct {
	pulumi.ResourceState

	NodeRoleArn pulumi.StringOutput
	System      *awseks.NodeGroup
	Worker      *awseks.NodeGroup
	HighMem     *awseks.NodeGroup // nil unless requested
	// Names are the node groups' physical names (system, worker[, highmem]).
	Names pulumi.StringArrayOutput
	// CoreDNS is ready when the cluster can resolve names: workloads depend on it.
	CoreDNS *awseks.Addon
}

// NewNodeGroups declares the node groups and the CoreDNS add-on.
func NewNodeGroups(ctx *pulumi.Context, name string, args *NodeGroupsArgs, opts ...pulumi.ResourceOption) (*NodeGroups, error) {
	if args.ClusterName == "" {
		return nil, errors.New("nodegroups: a cluster name is required")
	}
	g := &NodeGroups{}
	if err := ctx.RegisterComponentResource("linkage:components:NodeGroups", name, g, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(g)

	role, err := iam.NewRole(ctx, name+"-node", &iam.RoleArgs{
		Description:      pulumi.Sprintf("Nodes of EKS cluster %s", args.ClusterName),
		AssumeRolePolicy: pulumi.String(iampolicy.ServiceTrust("ec2.amazonaws.com").JSON()),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("nodegroups %s: node role: %w", name, err)
	}
	// The CNI policy is not here: vpc-cni gets it through IRSA (see cluster).
	var attachments []pulumi.Resource
	for _, policy := range []string{"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"} {
		a, err := iam.NewRolePolicyAttachment(ctx, name+"-node-"+policy, &iam.RolePolicyAttachmentArgs{
			Role:      role.Name,
			PolicyArn: pulumi.String(nodePolicyArnPrefix + policy),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("nodegroups %s: attach %s: %w", name, policy, err)
		}
		attachments = append(attachments, a)
	}

	group := func(suffix string, ga GroupArgs, capacity, roleLabel string, taint *awseks.NodeGroupTaintArgs) (*awseks.NodeGroup, error) {
		return newGroup(ctx, name+"-"+suffix, args, ga, capacity, roleLabel, taint, role.Arn,
			parent, pulumi.DependsOn(append(slices.Clone(attachments), args.After...)))
	}
	if g.System, err = group("system", args.System, capacityOnDemand, SystemRole, nil); err != nil {
		return nil, err
	}
	workerTaint := &awseks.NodeGroupTaintArgs{
		Key: pulumi.String(WorkerTaintKey), Value: pulumi.String(WorkerTaintValue), Effect: pulumi.String(WorkerTaintEffect),
	}
	if g.Worker, err = group("worker", args.Worker, capacitySpot, WorkerRole, workerTaint); err != nil {
		return nil, err
	}
	names := pulumi.StringArray{g.System.NodeGroupName, g.Worker.NodeGroupName}
	if args.HighMem != nil {
		highMemTaint := &awseks.NodeGroupTaintArgs{
			Key: pulumi.String(WorkerTaintKey), Value: pulumi.String(HighMemTaintValue), Effect: pulumi.String(WorkerTaintEffect),
		}
		if g.HighMem, err = group("highmem", *args.HighMem, capacitySpot, HighMemRole, highMemTaint); err != nil {
			return nil, err
		}
		names = append(names, g.HighMem.NodeGroupName)
	}

	g.CoreDNS, err = cluster.NewAddon(ctx, name, args.ClusterName, "coredns", args.CoreDNSVersion, nil,
		parent, pulumi.DependsOn([]pulumi.Resource{g.System}))
	if err != nil {
		return nil, fmt.Errorf("nodegroups %s: %w", name, err)
	}

	g.NodeRoleArn = role.Arn
	g.Names = names.ToStringArrayOutput()
	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{"nodeRoleArn": g.NodeRoleArn, "names": g.Names}); err != nil {
		return nil, err
	}
	return g, nil
}

func newGroup(ctx *pulumi.Context, name string, args *NodeGroupsArgs, ga GroupArgs, capacity, roleLabel string,
	taint *awseks.NodeGroupTaintArgs, roleArn pulumi.StringOutput, opts ...pulumi.ResourceOption) (*awseks.NodeGroup, error) {
	if len(ga.InstanceTypes) == 0 {
		return nil, fmt.Errorf("node group %s: no instance types", name)
	}
	instanceTags := pulumi.StringMap{"Name": pulumi.String(name)}
	for k, v := range args.InstanceTags {
		instanceTags[k] = pulumi.String(v)
	}
	lt, err := ec2.NewLaunchTemplate(ctx, name, &ec2.LaunchTemplateArgs{
		Description: pulumi.Sprintf("EKS %s nodes: IMDSv2 only, encrypted gp3 root volume", name),
		MetadataOptions: ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(imdsHopLimit),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String(rootDevice),
			Ebs: ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				VolumeSize:          pulumi.Int(ga.DiskSizeGiB),
				VolumeType:          pulumi.String("gp3"),
				Encrypted:           pulumi.String("true"),
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("instance"), Tags: instanceTags},
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("volume"), Tags: instanceTags},
		},
		UpdateDefaultVersion: pulumi.Bool(true),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("node group %s: launch template: %w", name, err)
	}

	var taints awseks.NodeGroupTaintArray
	if taint != nil {
		taints = append(taints, *taint)
	}
	ng, err := awseks.NewNodeGroup(ctx, name, &awseks.NodeGroupArgs{
		ClusterName:   pulumi.String(args.ClusterName),
		Version:       pulumi.String(args.KubernetesVersion),
		NodeRoleArn:   roleArn,
		SubnetIds:     args.SubnetIds,
		AmiType:       pulumi.String(AmiType),
		CapacityType:  pulumi.String(capacity),
		InstanceTypes: pulumi.ToStringArray(ga.InstanceTypes),
		ScalingConfig: awseks.NodeGroupScalingConfigArgs{
			MinSize: pulumi.Int(ga.MinSize), MaxSize: pulumi.Int(ga.MaxSize), DesiredSize: pulumi.Int(ga.DesiredSize),
		},
		UpdateConfig: awseks.NodeGroupUpdateConfigArgs{MaxUnavailablePercentage: pulumi.Int(maxUnavailablePct)},
		LaunchTemplate: awseks.NodeGroupLaunchTemplateArgs{
			Id:      lt.ID(),
			Version: lt.LatestVersion.ApplyT(strconv.Itoa).(pulumi.StringOutput),
		},
		Labels: pulumi.StringMap{RoleLabel: pulumi.String(roleLabel)},
		Taints: taints,
	}, append(opts, pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"}))...)
	if err != nil {
		return nil, fmt.Errorf("node group %s: %w", name, err)
	}
	if err := scaleFromZeroTags(ctx, name, ng, roleLabel, taint, opts...); err != nil {
		return nil, fmt.Errorf("node group %s: %w", name, err)
	}
	return ng, nil
}

// Tag keys on an Auto Scaling group that tell the cluster autoscaler what a node of an empty group
// would look like (cluster-autoscaler/cloudprovider/aws/README.md).
const (
	LabelTemplateTag = "k8s.io/cluster-autoscaler/node-template/label/"
	TaintTemplateTag = "k8s.io/cluster-autoscaler/node-template/taint/"
)

// taintEffects are the Kubernetes names of the EKS taint effects.
var taintEffects = map[string]string{"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}

// scaleFromZeroTags tags the group's Auto Scaling group with its nodes' label and taint. A group at
// zero nodes has no node to copy them from, and EKS does not put a managed group's labels and taints on
// its Auto Scaling group: without the tags the autoscaler would not know that a pending worker pod
// (which selects role=linkage-worker and tolerates the taint) fits there, as EKS Blueprints and
// terraform-aws-eks tag them too.
func scaleFromZeroTags(ctx *pulumi.Context, name string, ng *awseks.NodeGroup, roleLabel string,
	taint *awseks.NodeGroupTaintArgs, opts ...pulumi.ResourceOption) error {
	asg := ng.Resources.ApplyT(func(rs []awseks.NodeGroupResource) (string, error) {
		if len(rs) == 0 || len(rs[0].AutoscalingGroups) == 0 || rs[0].AutoscalingGroups[0].Name == nil {
			return "", errors.New("EKS reported no Auto Scaling group")
		}
		return *rs[0].AutoscalingGroups[0].Name, nil
	}).(pulumi.StringOutput)
	tags := map[string]pulumi.StringInput{"label-" + RoleLabel: pulumi.String(roleLabel)}
	keys := map[string]pulumi.StringInput{"label-" + RoleLabel: pulumi.String(LabelTemplateTag + RoleLabel)}
	if taint != nil {
		tags["taint"] = pulumi.Sprintf("%s:%s", taint.Value, taint.Effect.ToStringOutput().ApplyT(func(e string) string { return taintEffects[e] }))
		keys["taint"] = pulumi.Sprintf("%s%s", TaintTemplateTag, taint.Key)
	}
	for _, suffix := range slices.Sorted(maps.Keys(tags)) {
		if _, err := autoscaling.NewTag(ctx, name+"-"+suffix, &autoscaling.TagArgs{
			AutoscalingGroupName: asg,
			Tag: autoscaling.TagTagArgs{
				Key: keys[suffix], Value: tags[suffix], PropagateAtLaunch: pulumi.Bool(false),
			},
		}, opts...); err != nil {
			return fmt.Errorf("scale-from-zero tag %s: %w", suffix, err)
		}
	}
	return nil
}
