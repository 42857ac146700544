package network_test

import (
	"net/netip"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/network"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

const (
	subnetType = "aws:ec2/subnet:Subnet"
	natType    = "aws:ec2/natGateway:NatGateway"
	routesType = "aws:ec2/routeTable:RouteTable"
)

func TestNetworkTwoAZsOneNAT(t *testing.T) {
	var net *network.Network
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		var err error
		net, err = network.NewNetwork(ctx, "net", &network.NetworkArgs{
			ClusterName: "linkage-dev", Region: "us-east-1", CidrBlock: "10.10.0.0/16", AzCount: 2,
		})
		return err
	})

	vpc := componenttest.Find(t, m, "aws:ec2/vpc:Vpc", "net")
	require.Equal(t, "10.10.0.0/16", vpc.Input("cidrBlock"))
	require.Equal(t, true, vpc.Input("enableDnsHostnames"))
	require.Equal(t, map[string]string{"Name": "net"}, componenttest.StringMap(t, vpc.Input("tags")), "the stack's tags come from the provider's default tags")
	require.Equal(t, []string{"us-east-1a", "us-east-1b"}, net.AvailabilityZones)
	require.Equal(t, []string{"use1-az1", "use1-az2"}, net.ZoneIDs)
	require.Equal(t, []string{"10.10.0.0/19", "10.10.32.0/19"}, net.PrivateSubnetCidrs)

	for _, c := range []struct{ name, cidr, roleTag string }{
		{"net-public-us-east-1a", "10.10.224.0/22", network.PublicRoleTag},
		{"net-public-us-east-1b", "10.10.228.0/22", network.PublicRoleTag},
		{"net-private-us-east-1a", "10.10.0.0/19", network.InternalRoleTag},
		{"net-private-us-east-1b", "10.10.32.0/19", network.InternalRoleTag},
	} {
		s := componenttest.Find(t, m, subnetType, c.name)
		require.Equal(t, c.cidr, s.Input("cidrBlock"), c.name)
		require.Nil(t, s.Input("availabilityZone"), "%s: chosen by zone id, not by the account's zone name", c.name)
		tags := componenttest.StringMap(t, s.Input("tags"))
		require.Equal(t, "1", tags[c.roleTag], c.name)
		require.Equal(t, "shared", tags["kubernetes.io/cluster/linkage-dev"], c.name)
		require.Equal(t, vpc.ID, s.Input("vpcId"))
		require.NotEqual(t, true, s.Input("mapPublicIpOnLaunch"), "no public IPs on launch, even in public subnets")
	}

	nats := m.ByType(natType)
	require.Len(t, nats, 1, "dev shares one NAT gateway")
	for _, az := range []string{"us-east-1a", "us-east-1b"} {
		routes := componenttest.Find(t, m, routesType, "net-private-"+az)
		require.Equal(t, "0.0.0.0/0", routes.Input("routes[0].cidrBlock"))
		require.Equal(t, nats[0].ID, routes.Input("routes[0].natGatewayId"), "private egress through the NAT gateway")
	}
	public := componenttest.Find(t, m, routesType, "net-public")
	require.Equal(t, componenttest.Find(t, m, "aws:ec2/internetGateway:InternetGateway", "net").ID,
		public.Input("routes[0].gatewayId"))
	require.Len(t, m.ByType("aws:ec2/routeTableAssociation:RouteTableAssociation"), 4)
	s3 := componenttest.Find(t, m, "aws:ec2/vpcEndpoint:VpcEndpoint", "net-s3")
	require.Equal(t, "com.amazonaws.us-east-1.s3", s3.Input("serviceName"))
	require.Equal(t, "Gateway", s3.Input("vpcEndpointType"))
	require.ElementsMatch(t, []any{componenttest.Find(t, m, routesType, "net-private-us-east-1a").ID, componenttest.Find(t, m, routesType, "net-private-us-east-1b").ID},
		s3.Input("routeTableIds"), "S3 from the private subnets bypasses the NAT gateway")
	require.Empty(t, m.ByType("aws:ec2/flowLog:FlowLog"))

	dsg := componenttest.Find(t, m, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "net-default")
	require.Nil(t, dsg.Input("ingress"), "the default security group is emptied")

	for _, r := range m.Resources() {
		if r.Type != "linkage:components:Network" {
			require.Equal(t, componenttest.Find(t, m, "linkage:components:Network", "net").URN, r.Parent, r.URN)
		}
	}
}

func TestNetworkNATPerAZAndFlowLogs(t *testing.T) {
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		_, err := network.NewNetwork(ctx, "net", &network.NetworkArgs{
			ClusterName: "linkage-prod", Region: "us-east-1", CidrBlock: "10.20.0.0/16", AzCount: 3,
			NatGatewayPerAz: true, FlowLogs: true, FlowLogRetentionDays: 90,
		})
		return err
	})
	require.Len(t, m.ByType(subnetType), 6)
	require.Len(t, m.ByType(natType), 3)
	require.Len(t, m.ByType("aws:ec2/eip:Eip"), 3)
	// us-east-1c is use1-az3 here, where EKS refuses control-plane subnets.
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1d"} {
		nat := componenttest.Find(t, m, natType, "net-nat-"+az)
		require.Equal(t, componenttest.Find(t, m, subnetType, "net-public-"+az).ID, nat.Input("subnetId"), "NAT gateway in its AZ's public subnet")
		routes := componenttest.Find(t, m, routesType, "net-private-"+az)
		require.Equal(t, nat.ID, routes.Input("routes[0].natGatewayId"), "each AZ egresses through its own NAT")
	}

	group := componenttest.Find(t, m, "aws:cloudwatch/logGroup:LogGroup", "net-flow-logs")
	require.Equal(t, 90.0, group.Input("retentionInDays"))
	flow := componenttest.Find(t, m, "aws:ec2/flowLog:FlowLog", "net")
	require.Equal(t, "ALL", flow.Input("trafficType"))
	require.Equal(t, componenttest.Find(t, m, "aws:ec2/vpc:Vpc", "net").ID, flow.Input("vpcId"))
	role := componenttest.Find(t, m, "aws:iam/role:Role", "net-flow-logs")
	require.Equal(t, network.FlowLogsTrust("123456789012"), componenttest.Policy(t, role, "assumeRolePolicy"), "only for this account")
	write := componenttest.Policy(t, componenttest.Find(t, m, "aws:iam/rolePolicy:RolePolicy", "net-flow-logs"), "policy")
	require.Equal(t, iampolicy.Strings{group.Outputs["arn"].StringValue(), group.Outputs["arn"].StringValue() + ":*"},
		write.Statement[0].Resource, "flow logs may write to their own log group only")
}

func TestNetworkFailsWhenTheRegionHasTooFewAZs(t *testing.T) {
	m := pulumimock.New("linkage", "test")
	m.OnCall = func(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
		if args.Token == "aws:index/getAvailabilityZones:getAvailabilityZones" {
			require.Equal(t, []any{"use1-az3", "usw1-az2", "cac1-az3"}, args.Args["excludeZoneIds"].Mappable(), "zones EKS does not support are never offered")
			return resource.NewPropertyMapFromMap(map[string]any{"names": []any{"us-east-1a", "us-east-1b"}, "zoneIds": []any{"use1-az1", "use1-az2"}}), nil
		}
		return nil, nil
	}
	err := pulumimock.RunWith(m, pulumimock.Config{}, func(ctx *pulumi.Context) error {
		_, err := network.NewNetwork(ctx, "net", &network.NetworkArgs{ClusterName: "c", Region: "us-east-1", CidrBlock: "10.0.0.0/16", AzCount: 3})
		return err
	})
	require.ErrorContains(t, err, "3 availability zones requested but the region offers 2 that EKS supports")
	require.Empty(t, m.ByType(subnetType))
}

func TestSubnetCidrsTileTheVPCWithoutOverlap(t *testing.T) {
	for _, vpc := range []string{"10.0.0.0/16", "172.16.0.0/18", "192.168.16.0/20"} {
		p := netip.MustParsePrefix(vpc)
		var all []netip.Prefix
		for i := range 6 {
			pub, priv := network.SubnetCidrs(p, i)
			require.Equal(t, p.Bits()+3, priv.Bits())
			require.Equal(t, p.Bits()+6, pub.Bits())
			all = append(all, pub, priv)
		}
		for i, a := range all {
			require.True(t, p.Contains(a.Addr()), "%s inside %s", a, vpc)
			for _, b := range all[i+1:] {
				require.False(t, a.Overlaps(b), "%s overlaps %s", a, b)
			}
		}
	}
}
