package stacks

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/autoscaling"
	"github.com/linkage-platform/linkage/components/cluster"
	"github.com/linkage-platform/linkage/components/ingress"
	"github.com/linkage-platform/linkage/components/network"
	"github.com/linkage-platform/linkage/components/nodegroups"
	"github.com/linkage-platform/linkage/components/storage"
)

// Platform is what the data services and the app are deployed onto.
type Platform struct {
	Kind PlatformKind
	// Kubernetes is the provider every Kubernetes object of the stack must use.
	Kubernetes *kubernetes.Provider
	// StorageClass is the class for ordinary PVCs and RetainedStorageClass the one for databases;
	// empty on the kubeconfig platform, where the cluster's default class is used.
	StorageClass         string
	RetainedStorageClass string
	// IngressClass is empty on the kubeconfig platform: expose a Service there instead.
	IngressClass string
	// Ready are the resources Kubernetes workloads should depend on (nodes, DNS, storage, LB controller).
	Ready []pulumi.Resource

	// The AWS parts; nil on the kubeconfig platform. AWS is the provider every AWS resource of the
	// stack uses: it puts the stack's tags on each one (default tags), so no component threads them.
	AWS        *aws.Provider
	Region     string
	Network    *network.Network
	Cluster    *cluster.Cluster
	NodeGroups *nodegroups.NodeGroups
	Storage    *storage.Storage
	Ingress    *ingress.Ingress
	Scaling    *autoscaling.Autoscaling
}

// deployPlatform declares the cluster side of the stack.
func deployPlatform(ctx *pulumi.Context, cfg *Config) (*Platform, error) {
	p := cfg.Platform
	if p.Kind == PlatformKubeconfig {
		// No kubeconfig argument: the provider uses $KUBECONFIG or ~/.kube/config, like kubectl.
		k8s, err := kubernetes.NewProvider(ctx, "kubeconfig", &kubernetes.ProviderArgs{
			Context: stringPtrOrNil(p.KubeContext),
		})
		if err != nil {
			return nil, fmt.Errorf("kubernetes provider: %w", err)
		}
		return &Platform{Kind: p.Kind, Kubernetes: k8s}, nil
	}

	name := cfg.Project
	awsProvider, err := aws.NewProvider(ctx, name, &aws.ProviderArgs{
		Region:      pulumi.String(p.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.ToStringMap(cfg.Tags)},
	})
	if err != nil {
		return nil, fmt.Errorf("aws provider: %w", err)
	}
	onAWS := pulumi.Provider(awsProvider)
	net, err := network.NewNetwork(ctx, name, &network.NetworkArgs{
		ClusterName:          p.ClusterName,
		Region:               p.Region,
		CidrBlock:            p.Network.VpcCidr,
		AzCount:              p.Network.AzCount,
		NatGatewayPerAz:      p.Network.NatGatewayPerAz,
		FlowLogs:             p.Network.FlowLogs,
		FlowLogRetentionDays: p.Network.FlowLogRetentionDays,
	}, onAWS)
	if err != nil {
		return nil, err
	}
	cl, err := cluster.NewCluster(ctx, name, &cluster.ClusterArgs{
		Name:               p.ClusterName,
		KubernetesVersion:  p.Cluster.KubernetesVersion,
		VpcId:              net.VpcId,
		PublicSubnetIds:    net.PublicSubnetIds,
		PrivateSubnetIds:   net.PrivateSubnetIds,
		ServiceCidr:        p.Cluster.ServiceCidr,
		PublicAccessCidrs:  p.Cluster.PublicAccessCidrs,
		PrivateAccessCidrs: p.Cluster.PrivateAccessCidrs,
		LogTypes:           p.Cluster.LogTypes,
		AdminArns:          nonEmpty(append([]string{p.Cluster.CI.DeployRoleArn}, p.Cluster.AdminArns...)),
		ViewerArns:         nonEmpty([]string{p.Cluster.CI.PreviewRoleArn}),
		VpcCniVersion:      p.Addons.VpcCni,
		KubeProxyVersion:   p.Addons.KubeProxy,
		AWSProvider:        awsProvider,
	}, onAWS)
	if err != nil {
		return nil, err
	}
	ngArgs := &nodegroups.NodeGroupsArgs{
		ClusterName:       p.ClusterName,
		KubernetesVersion: p.Cluster.NodeVersion,
		SubnetIds:         net.PrivateSubnetIds,
		System:            groupArgs(p.SystemNodes),
		Worker:            groupArgs(p.WorkerNodes),
		CoreDNSVersion:    p.Addons.CoreDNS,
		After:             []pulumi.Resource{cl.Control, cl.VpcCni},
		InstanceTags:      cfg.Tags,
	}
	if p.HighMemNodes.Enabled {
		hm := groupArgs(p.HighMemNodes)
		ngArgs.HighMem = &hm
	}
	ng, err := nodegroups.NewNodeGroups(ctx, name, ngArgs, onAWS, pulumi.DependsOn([]pulumi.Resource{cl.Control}))
	if err != nil {
		return nil, err
	}
	nodes := []pulumi.Resource{ng.System, ng.CoreDNS}
	nodesReady := pulumi.DependsOn(nodes)
	st, err := storage.NewStorage(ctx, name, &storage.StorageArgs{
		ClusterName:         p.ClusterName,
		OIDC:                cl.OIDC,
		EbsCsiDriverVersion: p.Addons.EbsCsiDriver,
		Provider:            cl.Provider,
		After:               nodes,
	}, onAWS, nodesReady)
	if err != nil {
		return nil, err
	}
	in, err := ingress.NewIngress(ctx, name, &ingress.IngressArgs{
		ClusterName:  p.ClusterName,
		Region:       p.Region,
		VpcId:        net.VpcId,
		OIDC:         cl.OIDC,
		ChartVersion: p.LBControllerChartVersion,
		NodeSelector: map[string]string{nodegroups.RoleLabel: nodegroups.SystemRole},
		Provider:     cl.Provider,
		After:        nodes,
	}, onAWS, nodesReady)
	if err != nil {
		return nil, err
	}

	sc, err := autoscaling.NewAutoscaling(ctx, name, &autoscaling.AutoscalingArgs{
		ClusterName:               p.ClusterName,
		Region:                    p.Region,
		OIDC:                      cl.OIDC,
		AutoscalerChartVersion:    p.Autoscaling.AutoscalerChartVersion,
		AutoscalerImageTag:        p.Autoscaling.AutoscalerImageTag,
		MetricsServerChartVersion: p.Autoscaling.MetricsServerChartVersion,
		NodeSelector:              map[string]string{nodegroups.RoleLabel: nodegroups.SystemRole},
		Provider:                  cl.Provider,
		After:                     nodes,
	}, onAWS, nodesReady)
	if err != nil {
		return nil, err
	}

	// The worker groups are not here: they may be at zero nodes until the autoscaler adds one.
	ready := []pulumi.Resource{ng.System, ng.CoreDNS, sc.Autoscaler, sc.MetricsServer}
	ready = append(ready, st.Ready...)
	ready = append(ready, in.Ready...)
	return &Platform{
		Kind:                 p.Kind,
		Kubernetes:           cl.Provider,
		StorageClass:         st.DefaultClass,
		RetainedStorageClass: st.RetainedClass,
		IngressClass:         in.ClassName,
		Ready:                ready,
		AWS:                  awsProvider,
		Region:               p.Region,
		Network:              net,
		Cluster:              cl,
		NodeGroups:           ng,
		Storage:              st,
		Ingress:              in,
		Scaling:              sc,
	}, nil
}

// providers are the options that send a component's Kubernetes objects to the cluster and its AWS
// resources to the stack's AWS provider.
func (p *Platform) providers() pulumi.ResourceOption {
	if p.AWS == nil {
		return pulumi.Providers(p.Kubernetes)
	}
	return pulumi.Providers(p.Kubernetes, p.AWS)
}

func groupArgs(g NodeGroupConfig) nodegroups.GroupArgs {
	return nodegroups.GroupArgs{
		InstanceTypes: g.InstanceTypes,
		MinSize:       g.MinSize,
		MaxSize:       g.MaxSize,
		DesiredSize:   g.DesiredSize,
		DiskSizeGiB:   g.DiskSizeGiB,
	}
}

// exportPlatform publishes the platform's stack outputs.
func exportPlatform(ctx *pulumi.Context, p *Platform) {
	ctx.Export("platform", pulumi.String(string(p.Kind)))
	if p.Kind != PlatformEKS {
		return
	}
	ctx.Export("region", pulumi.String(p.Region))
	ctx.Export("clusterName", pulumi.String(p.Cluster.Name))
	ctx.Export("clusterEndpoint", p.Cluster.Endpoint)
	ctx.Export("kubeconfig", p.Cluster.Kubeconfig)
	ctx.Export("oidcProviderArn", p.Cluster.OIDC.ProviderArn)
	ctx.Export("oidcProviderUrl", p.Cluster.OIDC.IssuerURL)
	ctx.Export("clusterSecurityGroupId", p.Cluster.SecurityGroupId)
	ctx.Export("vpcId", p.Network.VpcId)
	ctx.Export("publicSubnetIds", p.Network.PublicSubnetIds)
	ctx.Export("privateSubnetIds", p.Network.PrivateSubnetIds)
	ctx.Export("nodeGroupNames", p.NodeGroups.Names)
	ctx.Export("storageClassNames", pulumi.ToStringArray([]string{p.StorageClass, p.RetainedStorageClass}))
	ctx.Export("ingressClassName", pulumi.String(p.IngressClass))
}

func nonEmpty(ss []string) []string {
	return slices.DeleteFunc(ss, func(s string) bool { return s == "" })
}

func stringPtrOrNil(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}
