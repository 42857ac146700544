package stacks

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/data"
	"github.com/linkage-platform/linkage/components/linkage"
)

// deployData declares Postgres, Redis and the object store in the app's namespace ns, each in its
// configured mode; the managed ones go into the cluster's VPC and trust its node security group.
// appNamespace is ns's name as configured: the S3 IRSA role's trust names it before ns exists.
func deployData(ctx *pulumi.Context, cfg *Config, p *Platform, ns *corev1.Namespace, appNamespace string) (*data.Data, error) {
	d := cfg.Data
	args := &data.Args{
		Namespace:    ns.Metadata.Name().Elem(),
		NodeSelector: d.NodeSelector,
		DependsOn:    p.Ready,
		Postgres:     d.Postgres,
		Redis:        d.Redis,
		ObjectStore:  d.ObjectStore,
	}
	if p.Kind == PlatformEKS {
		args.AWS = &data.AWSArgs{
			Region:                p.Region,
			VpcID:                 p.Network.VpcId,
			PrivateSubnetIDs:      p.Network.PrivateSubnetIds,
			ClientSecurityGroupID: p.Cluster.SecurityGroupId,
			OIDC:                  p.Cluster.OIDC,
			AppNamespace:          appNamespace,
			AppServiceAccount:     linkage.ServiceAccountName,
		}
	}
	return data.New(ctx, cfg.Project, args, p.providers())
}

// exportData publishes where each data service is and which Secret holds its credentials; never a
// password.
func exportData(ctx *pulumi.Context, d *data.Data) {
	ctx.Export("postgresMode", pulumi.String(string(d.Postgres.Mode)))
	ctx.Export("postgresEndpoint", d.Postgres.Endpoint)
	ctx.Export("databaseName", d.Postgres.Database)
	ctx.Export("postgresSecretName", d.Postgres.SecretName)
	ctx.Export("redisMode", pulumi.String(string(d.Redis.Mode)))
	ctx.Export("redisEndpoint", d.Redis.Endpoint)
	ctx.Export("redisSecretName", d.Redis.SecretName)
	ctx.Export("objectStoreMode", pulumi.String(string(d.ObjectStore.Mode)))
	ctx.Export("bucketName", d.ObjectStore.Bucket)
	ctx.Export("objectStoreEndpoint", d.ObjectStore.Endpoint)
	ctx.Export("objectStoreSecretName", d.ObjectStore.SecretName)
	ctx.Export("s3RoleArn", d.ObjectStore.AppRoleArn)
	ctx.Export("uploadRoleArn", d.ObjectStore.UploadRoleArn)
}
