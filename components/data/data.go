package data

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/components/irsa"
)

// Args configure the three data services. Fields a mode does not use are
// ignored; New reports a missing field the chosen mode needs.
type Args struct {
	// Namespace of the app: the Secrets the app reads and the in-cluster
	// services live there. Pass the Namespace resource's name output so the
	// namespace exists first.
	Namespace pulumi.StringInput
	// NodeSelector pins in-cluster data pods (e.g. role=system, the
	// on-demand group); empty means anywhere.
	NodeSelector map[string]string
	// AWS is the network and identity the managed services need; nil when
	// no service is managed (the local stack has no AWS at all).
	AWS *AWSArgs
	// DependsOn must exist before the in-cluster services start (e.g. the
	// storage classes their volumes use).
	DependsOn []pulumi.Resource

	Postgres    PostgresArgs
	Redis       RedisArgs
	ObjectStore ObjectStoreArgs
}

// AWSArgs locate the managed services in the cluster's VPC.
type AWSArgs struct {
	Region           string
	VpcID            pulumi.StringInput
	PrivateSubnetIDs pulumi.StringArrayInput
	// ClientSecurityGroupID is the node/pod security group: the only
	// source allowed to reach RDS and ElastiCache.
	ClientSecurityGroupID pulumi.StringInput
	// OIDC is the cluster's identity provider, for the app's IRSA role (managed object store),
	// which trusts only the app's ServiceAccount AppServiceAccount in AppNamespace.
	OIDC                            irsa.OIDC
	AppNamespace, AppServiceAccount string
}

// InClusterArgs size one in-cluster StatefulSet.
type InClusterArgs struct {
	Image string `json:"image"`
	// StorageClass of the PVC; empty means the cluster's default class.
	StorageClass string `json:"storageClass"`
	// StorageSize is a Kubernetes quantity, e.g. "20Gi".
	StorageSize string              `json:"storageSize"`
	Resources   container.Resources `json:"resources"`
}

// ExternalArgs name a service run by someone else.
type ExternalArgs struct {
	// Endpoint is host:port.
	Endpoint string `json:"endpoint"`
	// SecretName is an existing Secret in Namespace holding the service's
	// URL key(s) (see the package doc).
	SecretName string `json:"secretName"`
}

// Data groups the three services; each carries its own outputs.
type Data struct {
	pulumi.ResourceState

	Postgres    *Postgres
	Redis       *Redis
	ObjectStore *ObjectStore
}

// New declares the three data services as children of one Data component.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Data, error) {
	if args == nil {
		return nil, errors.New("data: args are required")
	}
	if err := args.check(); err != nil {
		return nil, fmt.Errorf("data %s: %w", name, err)
	}
	d := &Data{}
	if err := ctx.RegisterComponentResource("linkage:components:Data", name, d, opts...); err != nil {
		return nil, fmt.Errorf("data %s: register: %w", name, err)
	}
	shared := sharedArgs{
		namespace: args.Namespace, nodeSelector: args.NodeSelector, aws: args.AWS, dependsOn: args.DependsOn,
	}
	var err error
	if d.Postgres, err = newPostgres(ctx, name+"-postgres", shared, args.Postgres, pulumi.Parent(d)); err != nil {
		return nil, err
	}
	if d.Redis, err = newRedis(ctx, name+"-redis", shared, args.Redis, pulumi.Parent(d)); err != nil {
		return nil, err
	}
	if d.ObjectStore, err = newObjectStore(ctx, name+"-objectstore", shared, args.ObjectStore, pulumi.Parent(d)); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{
		"postgresEndpoint":      d.Postgres.Endpoint,
		"postgresSecretName":    d.Postgres.SecretName,
		"database":              d.Postgres.Database,
		"redisEndpoint":         d.Redis.Endpoint,
		"redisSecretName":       d.Redis.SecretName,
		"bucket":                d.ObjectStore.Bucket,
		"objectStoreEndpoint":   d.ObjectStore.Endpoint,
		"objectStoreSecretName": d.ObjectStore.SecretName,
		"appRoleArn":            d.ObjectStore.AppRoleArn,
		"uploadRoleArn":         d.ObjectStore.UploadRoleArn,
	}); err != nil {
		return nil, fmt.Errorf("data %s: register outputs: %w", name, err)
	}
	return d, nil
}

// check reports what New cannot work without. The values themselves (versions, sizes, names) are the
// caller's to validate: stacks/ does, naming each configuration key.
func (a *Args) check() error {
	var errs []error
	if a.Namespace == nil {
		errs = append(errs, errors.New("namespace is required"))
	}
	for _, svc := range []struct {
		name   string
		mode   Mode
		hasArg map[Mode]bool
	}{
		{"postgres", a.Postgres.Mode, map[Mode]bool{Managed: a.Postgres.Managed != nil, InCluster: a.Postgres.InCluster != nil, External: a.Postgres.External != nil}},
		{"redis", a.Redis.Mode, map[Mode]bool{Managed: a.Redis.Managed != nil, InCluster: a.Redis.InCluster != nil, External: a.Redis.External != nil}},
		{"objectStore", a.ObjectStore.Mode, map[Mode]bool{Managed: a.ObjectStore.Managed != nil, InCluster: a.ObjectStore.InCluster != nil, External: a.ObjectStore.External != nil}},
	} {
		switch {
		case !svc.hasArg[svc.mode]:
			errs = append(errs, fmt.Errorf("%s: mode %q needs its arguments", svc.name, svc.mode))
		case svc.mode == Managed && a.AWS == nil:
			errs = append(errs, fmt.Errorf("%s: managed needs AWS (a VPC and an EKS cluster)", svc.name))
		}
	}
	if a.ObjectStore.Mode == Managed && a.AWS != nil && (a.AWS.AppNamespace == "" || a.AWS.AppServiceAccount == "") {
		errs = append(errs, errors.New("objectStore: the app's service account namespace and name are required for its IRSA role"))
	}
	return errors.Join(errs...)
}

// sharedArgs are the parts of Args every service uses.
type sharedArgs struct {
	namespace    pulumi.StringInput
	nodeSelector map[string]string
	aws          *AWSArgs
	dependsOn    []pulumi.Resource
}
