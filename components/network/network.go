// Package network is the VPC the cluster runs in: public subnets for load balancers, private subnets for
// nodes, pods and data services, NAT gateways for egress and optional flow logs, over N availability zones.
package network

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/iampolicy"
)

// Subnet tags the AWS Load Balancer Controller and EKS use to discover subnets.
const (
	PublicRoleTag   = "kubernetes.io/role/elb"
	InternalRoleTag = "kubernetes.io/role/internal-elb"
)

// EKSUnsupportedZoneIDs are the zones where EKS refuses control-plane subnets (EKS user guide, "VPC
// and subnet requirements"). Zone IDs, not names: names are shuffled per account, so us-east-1e in one
// account is use1-az3 and in another a zone EKS supports.
var EKSUnsupportedZoneIDs = []string{"use1-az3", "usw1-az2", "cac1-az3"}

// DocumentationRanges are reserved for examples (RFC 5737, RFC 3849): no real client has them, so an
// allow-list that names one was copied from an example and locks its real users out.
var DocumentationRanges = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
}

// IsDocumentationRange reports whether p lies inside a documentation range.
func IsDocumentationRange(p netip.Prefix) bool {
	for _, d := range DocumentationRanges {
		if p.Bits() >= d.Bits() && d.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// ClusterTag is the tag key that marks a subnet as usable by the named cluster.
func ClusterTag(clusterName string) string { return "kubernetes.io/cluster/" + clusterName }

// NetworkArgs configures a Network.
type NetworkArgs struct {
	// ClusterName is the EKS cluster that will use the subnets (for the discovery tags).
	ClusterName string
	// Region names the S3 gateway endpoint's service (com.amazonaws.<region>.s3).
	Region    string
	CidrBlock string
	AzCount   int
	// NatGatewayPerAz gives each AZ its own NAT gateway (no cross-AZ dependency); otherwise one is shared.
	NatGatewayPerAz      bool
	FlowLogs             bool
	FlowLogRetentionDays int
}

// Network is the VPC and its subnets.
type Network struct {
	pulumi.ResourceState

	VpcId             pulumi.StringOutput
	CidrBlock         string
	AvailabilityZones []string
	// ZoneIDs are the AZs' account-independent ids, in the order of AvailabilityZones.
	ZoneIDs          []string
	PublicSubnetIds  pulumi.StringArrayOutput
	PrivateSubnetIds pulumi.StringArrayOutput
	// PrivateSubnetCidrs are the private subnets' blocks, known before deployment (for security group rules).
	PrivateSubnetCidrs []string
}

// NewNetwork declares the VPC.
func NewNetwork(ctx *pulumi.Context, name string, args *NetworkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	vpcCidr, err := netip.ParsePrefix(args.CidrBlock)
	if err != nil {
		return nil, fmt.Errorf("network %s: cidr: %w", name, err)
	}
	if args.Region == "" {
		return nil, fmt.Errorf("network %s: a region is required", name)
	}
	if args.AzCount < 2 || args.AzCount > maxAzs {
		return nil, fmt.Errorf("network %s: %d availability zones requested, want 2..%d", name, args.AzCount, maxAzs)
	}
	n := &Network{CidrBlock: args.CidrBlock}
	if err := ctx.RegisterComponentResource("linkage:components:Network", name, n, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(n)

	// Regular zones only (no Local or Wavelength Zones, which need an opt-in), without the ones EKS
	// does not support.
	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		Filters: []aws.GetAvailabilityZonesFilter{{
			Name: "opt-in-status", Values: []string{"opt-in-not-required"},
		}},
		ExcludeZoneIds: EKSUnsupportedZoneIDs,
	}, pulumi.Parent(n))
	if err != nil {
		return nil, fmt.Errorf("network %s: list availability zones: %w", name, err)
	}
	if len(zones.Names) < args.AzCount || len(zones.ZoneIds) != len(zones.Names) {
		return nil, fmt.Errorf("network %s: %d availability zones requested but the region offers %d that EKS supports", name, args.AzCount, min(len(zones.Names), len(zones.ZoneIds)))
	}
	n.AvailabilityZones = zones.Names[:args.AzCount]
	n.ZoneIDs = zones.ZoneIds[:args.AzCount]

	clusterTag := ClusterTag(args.ClusterName)

	vpc, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock:          pulumi.String(args.CidrBlock),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		Tags:               pulumi.ToStringMap(map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %s: vpc: %w", name, err)
	}
	// The default security group allows all traffic between its members; nothing should use it.
	if _, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default", &ec2.DefaultSecurityGroupArgs{
		VpcId: vpc.ID(),
		Tags:  pulumi.ToStringMap(map[string]string{"Name": name + "-default-unused"}),
	}, parent); err != nil {
		return nil, fmt.Errorf("network %s: lock down default security group: %w", name, err)
	}

	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{
		VpcId: vpc.ID(),
		Tags:  pulumi.ToStringMap(map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %s: internet gateway: %w", name, err)
	}
	publicRoutes, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId: vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{
			CidrBlock: pulumi.String("0.0.0.0/0"),
			GatewayId: igw.ID(),
		}},
		Tags: pulumi.ToStringMap(map[string]string{"Name": name + "-public"}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %s: public route table: %w", name, err)
	}

	var publicIDs, privateIDs, privateRoutes pulumi.StringArray
	var natIDs []pulumi.IDOutput
	for i, az := range n.AvailabilityZones {
		zoneID := pulumi.String(n.ZoneIDs[i])
		publicCidr, privateCidr := SubnetCidrs(vpcCidr, i)
		n.PrivateSubnetCidrs = append(n.PrivateSubnetCidrs, privateCidr.String())

		pubName := fmt.Sprintf("%s-public-%s", name, az)
		pub, err := ec2.NewSubnet(ctx, pubName, &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			AvailabilityZoneId:  zoneID,
			CidrBlock:           pulumi.String(publicCidr.String()),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                pulumi.ToStringMap(map[string]string{"Name": pubName, PublicRoleTag: "1", clusterTag: "shared"}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network %s: public subnet in %s: %w", name, az, err)
		}
		publicIDs = append(publicIDs, pub.ID().ToStringOutput())
		if _, err := ec2.NewRouteTableAssociation(ctx, pubName, &ec2.RouteTableAssociationArgs{
			SubnetId: pub.ID(), RouteTableId: publicRoutes.ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("network %s: public route association in %s: %w", name, az, err)
		}

		if i == 0 || args.NatGatewayPerAz {
			natName := fmt.Sprintf("%s-nat-%s", name, az)
			eip, err := ec2.NewEip(ctx, natName, &ec2.EipArgs{
				Domain: pulumi.String("vpc"),
				Tags:   pulumi.ToStringMap(map[string]string{"Name": natName}),
			}, parent)
			if err != nil {
				return nil, fmt.Errorf("network %s: NAT address in %s: %w", name, az, err)
			}
			nat, err := ec2.NewNatGateway(ctx, natName, &ec2.NatGatewayArgs{
				SubnetId:     pub.ID(),
				AllocationId: eip.ID(),
				Tags:         pulumi.ToStringMap(map[string]string{"Name": natName}),
			}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
			if err != nil {
				return nil, fmt.Errorf("network %s: NAT gateway in %s: %w", name, az, err)
			}
			natIDs = append(natIDs, nat.ID())
		}

		privName := fmt.Sprintf("%s-private-%s", name, az)
		priv, err := ec2.NewSubnet(ctx, privName, &ec2.SubnetArgs{
			VpcId:              vpc.ID(),
			AvailabilityZoneId: zoneID,
			CidrBlock:          pulumi.String(privateCidr.String()),
			Tags:               pulumi.ToStringMap(map[string]string{"Name": privName, InternalRoleTag: "1", clusterTag: "shared"}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network %s: private subnet in %s: %w", name, az, err)
		}
		privateIDs = append(privateIDs, priv.ID().ToStringOutput())
		routes, err := ec2.NewRouteTable(ctx, privName, &ec2.RouteTableArgs{
			VpcId: vpc.ID(),
			Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{
				CidrBlock:    pulumi.String("0.0.0.0/0"),
				NatGatewayId: natIDs[len(natIDs)-1],
			}},
			Tags: pulumi.ToStringMap(map[string]string{"Name": privName}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network %s: private route table in %s: %w", name, az, err)
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, privName, &ec2.RouteTableAssociationArgs{
			SubnetId: priv.ID(), RouteTableId: routes.ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("network %s: private route association in %s: %w", name, az, err)
		}
		privateRoutes = append(privateRoutes, routes.ID().ToStringOutput())
	}

	// S3 traffic (uploads, results, image layers from ECR) takes the free gateway endpoint instead of
	// being billed per GB through the NAT gateways.
	if _, err := ec2.NewVpcEndpoint(ctx, name+"-s3", &ec2.VpcEndpointArgs{
		VpcId:           vpc.ID(),
		ServiceName:     pulumi.Sprintf("com.amazonaws.%s.s3", args.Region),
		VpcEndpointType: pulumi.String("Gateway"),
		RouteTableIds:   privateRoutes,
		Tags:            pulumi.ToStringMap(map[string]string{"Name": name + "-s3"}),
	}, parent); err != nil {
		return nil, fmt.Errorf("network %s: S3 gateway endpoint: %w", name, err)
	}

	if args.FlowLogs {
		if err := flowLogs(ctx, n, name, vpc, args.FlowLogRetentionDays); err != nil {
			return nil, fmt.Errorf("network %s: flow logs: %w", name, err)
		}
	}

	n.VpcId = vpc.ID().ToStringOutput()
	n.PublicSubnetIds = publicIDs.ToStringArrayOutput()
	n.PrivateSubnetIds = privateIDs.ToStringArrayOutput()
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":            n.VpcId,
		"publicSubnetIds":  n.PublicSubnetIds,
		"privateSubnetIds": n.PrivateSubnetIds,
	}); err != nil {
		return nil, err
	}
	return n, nil
}

// flowLogs sends the VPC's accepted and rejected traffic records to a CloudWatch log group.
func flowLogs(ctx *pulumi.Context, n *Network, name string, vpc *ec2.Vpc, retentionDays int) error {
	parent := pulumi.Parent(n)
	caller, err := aws.GetCallerIdentity(ctx, nil, parent)
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	group, err := cloudwatch.NewLogGroup(ctx, name+"-flow-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.Sprintf("/aws/vpc/%s/flow-logs", name),
		RetentionInDays: pulumi.Int(retentionDays),
	}, parent)
	if err != nil {
		return err
	}
	role, err := iam.NewRole(ctx, name+"-flow-logs", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(FlowLogsTrust(caller.AccountId).JSON()),
	}, parent)
	if err != nil {
		return err
	}
	policy := group.Arn.ApplyT(func(arn string) string {
		return iampolicy.New(iampolicy.Allow("WriteFlowLogs",
			[]string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
			arn, arn+":*")).JSON()
	}).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, name+"-flow-logs", &iam.RolePolicyArgs{Role: role.Name, Policy: policy}, parent); err != nil {
		return err
	}
	_, err = ec2.NewFlowLog(ctx, name, &ec2.FlowLogArgs{
		VpcId:                  vpc.ID(),
		TrafficType:            pulumi.String("ALL"),
		LogDestinationType:     pulumi.String("cloud-watch-logs"),
		LogDestination:         group.Arn,
		IamRoleArn:             role.Arn,
		MaxAggregationInterval: pulumi.Int(60),
	}, parent)
	return err
}

// FlowLogsTrust lets the flow-logs service assume the role on behalf of this account only (no confused
// deputy).
func FlowLogsTrust(accountID string) iampolicy.Document {
	trust := iampolicy.ServiceTrust("vpc-flow-logs.amazonaws.com")
	trust.Statement[0].Condition = map[string]map[string]iampolicy.Strings{
		"StringEquals": {"aws:SourceAccount": {accountID}},
	}
	return trust
}

// maxAzs is how many AZs the CIDR layout has room for.
const maxAzs = 6

// SubnetCidrs splits the VPC block: the private subnet of AZ i is the i-th eighth of the VPC (large, for
// nodes and VPC-CNI pod IPs); the public subnets share the last eighth (load balancers and NAT only).
func SubnetCidrs(vpc netip.Prefix, i int) (public, private netip.Prefix) {
	private = subnet(vpc, 3, i)
	public = subnet(subnet(vpc, 3, 7), 3, i)
	return public, private
}

// subnet is Terraform's cidrsubnet for IPv4: the index-th block of prefix length +newBits.
func subnet(p netip.Prefix, newBits, index int) netip.Prefix {
	bits := p.Bits() + newBits
	base := p.Masked().Addr().As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v |= uint32(index) << (32 - bits)
	addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.PrefixFrom(addr, bits)
}
