// Package ingress makes Kubernetes Ingresses into AWS Application Load Balancers: the AWS Load Balancer
// Controller (pinned Helm chart) with its published IAM policy on an IRSA role trusted only by the
// controller's service account, and `alb` as the default IngressClass.
package ingress

import (
	_ "embed"
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/irsa"
)

// controllerPolicy is the controller project's published iam_policy.json for the pinned chart's app
// version (v2.13); update both together.
//
//go:embed iam_policy.json
var controllerPolicy string

// Names the rest of the platform relies on.
const (
	ClassName       = "alb"
	Controller      = "ingress.k8s.aws/alb"
	ChartName       = "aws-load-balancer-controller"
	ChartRepo       = "https://aws.github.io/eks-charts"
	Namespace       = "kube-system"
	ServiceAccount  = "aws-load-balancer-controller"
	DefaultClassKey = "ingressclass.kubernetes.io/is-default-class"
	RoleArnKey      = "eks.amazonaws.com/role-arn"
)

// IngressArgs configures Ingress.
type IngressArgs struct {
	ClusterName  string
	Region       string
	VpcId        pulumi.StringInput
	OIDC         irsa.OIDC
	ChartVersion string
	// NodeSelector places the controller (e.g. on the on-demand system nodes).
	NodeSelector map[string]string
	Provider     *kubernetes.Provider
	// After must exist before the controller is installed: nodes to run it (a component's DependsOn
	// does not reach its children).
	After []pulumi.Resource
}

// Ingress is the controller and the IngressClass.
type Ingress struct {
	pulumi.ResourceState

	ClassName string
	RoleArn   pulumi.StringOutput
	// Controller is the Helm release: Ingresses must depend on it so that they are deleted before it
	// (otherwise the ALBs it made outlive it and block the VPC's deletion).
	Controller *helmv3.Release
	Ready      []pulumi.Resource
}

// NewIngress declares the controller.
func NewIngress(ctx *pulumi.Context, name string, args *IngressArgs, opts ...pulumi.ResourceOption) (*Ingress, error) {
	if args.Provider == nil || args.ClusterName == "" || args.Region == "" || args.ChartVersion == "" {
		return nil, errors.New("ingress: cluster name, region, chart version and Kubernetes provider are required")
	}
	in := &Ingress{ClassName: ClassName}
	if err := ctx.RegisterComponentResource("linkage:components:Ingress", name, in, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(in)
	k8s := []pulumi.ResourceOption{parent, pulumi.Provider(args.Provider)}

	policy, err := iam.NewPolicy(ctx, name+"-lb-controller", &iam.PolicyArgs{
		Description: pulumi.Sprintf("AWS Load Balancer Controller of EKS cluster %s", args.ClusterName),
		Policy:      pulumi.String(controllerPolicy),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ingress %s: controller policy: %w", name, err)
	}
	role, err := irsa.NewRole(ctx, name+"-lb-controller", &irsa.RoleArgs{
		OIDC: args.OIDC, Namespace: Namespace, ServiceAccount: ServiceAccount,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ingress %s: controller role: %w", name, err)
	}
	attach, err := iam.NewRolePolicyAttachment(ctx, name+"-lb-controller", &iam.RolePolicyAttachmentArgs{
		Role: role.Name, PolicyArn: policy.Arn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ingress %s: attach controller policy: %w", name, err)
	}

	release, err := helmv3.NewRelease(ctx, name+"-lb-controller", &helmv3.ReleaseArgs{
		Name:           pulumi.String(ChartName),
		Chart:          pulumi.String(ChartName),
		Version:        pulumi.String(args.ChartVersion),
		RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(ChartRepo)},
		Namespace:      pulumi.String(Namespace),
		Atomic:         pulumi.Bool(true),
		CleanupOnFail:  pulumi.Bool(true),
		Timeout:        pulumi.Int(600),
		Values: pulumi.Map{
			"clusterName":  pulumi.String(args.ClusterName),
			"region":       pulumi.String(args.Region),
			"vpcId":        args.VpcId,
			"replicaCount": pulumi.Int(2),
			"serviceAccount": pulumi.Map{
				"create":      pulumi.Bool(true),
				"name":        pulumi.String(ServiceAccount),
				"annotations": pulumi.Map{RoleArnKey: role.Arn},
			},
			// The IngressClass is declared below, as the cluster default.
			"createIngressClassResource": pulumi.Bool(false),
			// Leave LoadBalancer Services to their own controllers; only Ingresses make ALBs here.
			"enableServiceMutatorWebhook": pulumi.Bool(false),
			"nodeSelector":                pulumi.ToStringMap(args.NodeSelector),
		},
	}, append(k8s, pulumi.DependsOn(append([]pulumi.Resource{attach}, args.After...)))...)
	if err != nil {
		return nil, fmt.Errorf("ingress %s: controller release: %w", name, err)
	}
	class, err := networkingv1.NewIngressClass(ctx, name+"-"+ClassName, &networkingv1.IngressClassArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name:        pulumi.String(ClassName),
			Annotations: pulumi.StringMap{DefaultClassKey: pulumi.String("true")},
		},
		Spec: networkingv1.IngressClassSpecArgs{Controller: pulumi.String(Controller)},
	}, append(k8s, pulumi.DependsOn([]pulumi.Resource{release}))...)
	if err != nil {
		return nil, fmt.Errorf("ingress %s: ingress class: %w", name, err)
	}

	in.RoleArn = role.Arn
	in.Controller = release
	in.Ready = []pulumi.Resource{release, class}
	if err := ctx.RegisterResourceOutputs(in, pulumi.Map{
		"className": pulumi.String(in.ClassName),
		"roleArn":   in.RoleArn,
	}); err != nil {
		return nil, err
	}
	return in, nil
}
