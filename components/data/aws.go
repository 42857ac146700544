package data

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// clientOnlySecurityGroup admits TCP on port from the node/pod security
// group and nothing else; managed data services need no egress.
func clientOnlySecurityGroup(ctx *pulumi.Context, name, what string, port int, shared sharedArgs, opts ...pulumi.ResourceOption) (*ec2.SecurityGroup, error) {
	sg, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		Description: pulumi.Sprintf("%s: port %d from the cluster's nodes and pods only", what, port),
		VpcId:       shared.aws.VpcID,
		Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
			Description:    pulumi.String("cluster nodes and pods"),
			Protocol:       pulumi.String("tcp"),
			FromPort:       pulumi.Int(port),
			ToPort:         pulumi.Int(port),
			SecurityGroups: pulumi.StringArray{shared.aws.ClientSecurityGroupID},
		}},
		RevokeRulesOnDelete: pulumi.Bool(true),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("security group %s: %w", name, err)
	}
	return sg, nil
}
