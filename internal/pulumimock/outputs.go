package pulumimock

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// idPrefixes gives AWS-looking physical ids to the resource types whose ids other resources consume.
var idPrefixes = map[string]string{
	"aws:ec2/vpc:Vpc":                         "vpc-",
	"aws:ec2/subnet:Subnet":                   "subnet-",
	"aws:ec2/securityGroup:SecurityGroup":     "sg-",
	"aws:ec2/internetGateway:InternetGateway": "igw-",
	"aws:ec2/natGateway:NatGateway":           "nat-",
	"aws:ec2/eip:Eip":                         "eipalloc-",
	"aws:ec2/routeTable:RouteTable":           "rtb-",
	"aws:ec2/launchTemplate:LaunchTemplate":   "lt-",
	"aws:ec2/flowLog:FlowLog":                 "fl-",
	"aws:kms/key:Key":                         "",
}

// hash is a short stable hex digest used to make ids, endpoints and issuers unique per resource.
func hash(parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// physicalName is the name the provider would give the resource: the explicit name input if set.
func physicalName(args pulumi.MockResourceArgs) string {
	for _, key := range []resource.PropertyKey{"name", "nodeGroupName", "bucket"} {
		if v, ok := args.Inputs[key]; ok && v.IsString() && v.StringValue() != "" {
			return v.StringValue()
		}
	}
	return args.Name
}

// awsService is the ARN service of an aws:<module>/<type>:<Type> token.
func awsService(typ string) string {
	mod := strings.SplitN(strings.TrimPrefix(typ, "aws:"), "/", 2)[0]
	switch mod {
	case "cloudwatch":
		return "logs"
	case "ec2transitgateway":
		return "ec2"
	}
	return mod
}

func (m *Mocks) defaultOutputs(args pulumi.MockResourceArgs, urn string) (string, resource.PropertyMap) {
	outputs := args.Inputs.Copy()
	name := physicalName(args)
	suffix := hash(urn)[:12]

	id := name + "-" + suffix[:8]
	if prefix, ok := idPrefixes[args.TypeToken]; ok {
		id = prefix + suffix
	}
	if strings.HasPrefix(args.TypeToken, "aws:") && args.Custom {
		svc := awsService(args.TypeToken)
		arn := fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", svc, m.region(), m.account(), typeName(args.TypeToken), name)
		if svc == "iam" {
			arn = fmt.Sprintf("arn:aws:iam::%s:%s/%s", m.account(), typeName(args.TypeToken), name)
		}
		if _, ok := outputs["arn"]; !ok {
			outputs["arn"] = resource.NewProperty(arn)
		}
		if _, ok := outputs["name"]; !ok && svc != "ec2" {
			outputs["name"] = resource.NewProperty(name)
		}
	}

	switch args.TypeToken {
	case "eks:index:Cluster":
		info := m.clusterInfo(name)
		kubeconfig := m.kubeconfig(name, info)
		raw, _ := json.Marshal(kubeconfig)
		outputs["kubeconfig"] = resource.NewProperty(resource.NewPropertyMapFromMap(kubeconfig))
		outputs["kubeconfigJson"] = resource.MakeSecret(resource.NewProperty(string(raw)))
		outputs["core"] = resource.NewProperty(resource.PropertyMap{
			"endpoint": resource.NewProperty(info.endpoint),
			"vpcId":    inputOr(args.Inputs, "vpcId", ""),
		})
	case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
		url := strings.TrimPrefix(stringInput(args.Inputs, "url"), "https://")
		id = fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", m.account(), url)
		outputs["arn"] = resource.NewProperty(id)
	case "aws:iam/role:Role", "aws:iam/policy:Policy":
		id = name
	case "aws:kms/key:Key":
		id = fmt.Sprintf("%s-%s-%s-%s-%s", suffix[:8], suffix[8:12], hash(urn, "1")[:4], hash(urn, "2")[:4], hash(urn, "3")[:12])
		outputs["arn"] = resource.NewProperty(fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", m.region(), m.account(), id))
		outputs["keyId"] = resource.NewProperty(id)
	case "aws:ec2/eip:Eip":
		outputs["publicIp"] = resource.NewProperty(fmt.Sprintf("203.0.113.%d", 1+int(hash(urn)[0])%250))
	case "aws:eks/nodeGroup:NodeGroup":
		id = stringInput(args.Inputs, "clusterName") + ":" + name
		if _, ok := outputs["nodeGroupName"]; !ok {
			outputs["nodeGroupName"] = resource.NewProperty(name)
		}
		outputs["status"] = resource.NewProperty("ACTIVE")
		outputs["resources"] = resource.NewProperty([]resource.PropertyValue{resource.NewProperty(resource.NewPropertyMapFromMap(map[string]any{
			"autoscalingGroups": []any{map[string]any{"name": "eks-" + name + "-" + suffix}},
		}))})
	case "aws:cloudwatch/logGroup:LogGroup":
		outputs["arn"] = resource.NewProperty(fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", m.region(), m.account(), name))
	case "kubernetes:storage.k8s.io/v1:StorageClass", "kubernetes:networking.k8s.io/v1:IngressClass":
		// cluster-scoped objects are named by metadata.name
		if meta, ok := args.Inputs["metadata"]; ok && meta.IsObject() {
			if n, ok := meta.ObjectValue()["name"]; ok && n.IsString() {
				id = n.StringValue()
			}
		}
	case "random:index/randomId:RandomId":
		outputs["hex"] = resource.NewProperty(suffix[:8])
	case "kubernetes:helm.sh/v3:Release":
		outputs["status"] = resource.NewProperty(resource.PropertyMap{
			"status":  resource.NewProperty("deployed"),
			"version": inputOr(args.Inputs, "version", ""),
		})
	}
	m.appOutputs(args, urn, name, outputs)
	return id, outputs
}

// typeName is the lower-case resource kind used in ARNs: aws:iam/role:Role -> role.
func typeName(typ string) string {
	i := strings.LastIndex(typ, ":")
	return strings.ToLower(typ[i+1:])
}

func stringInput(inputs resource.PropertyMap, key resource.PropertyKey) string {
	v, ok := inputs[key]
	if ok && v.IsSecret() {
		v = v.SecretValue().Element
	}
	if ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

func inputOr(inputs resource.PropertyMap, key resource.PropertyKey, def string) resource.PropertyValue {
	if v, ok := inputs[key]; ok {
		return v
	}
	return resource.NewProperty(def)
}

// zonePrefix is the region part of its zone ids: us-east-1 -> use1, ca-central-1 -> cac1.
func zonePrefix(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 || parts[1] == "" {
		return region
	}
	return parts[0] + parts[1][:1] + parts[2]
}

// clusterInfo is what AWS reports for an EKS cluster of the given name, derived from the name.
type clusterInfo struct {
	name, endpoint, issuer, caData, arn, securityGroup string
}

func (m *Mocks) clusterInfo(name string) clusterInfo {
	h := strings.ToUpper(hash(m.Stack, name) + hash(name, m.Stack))
	return clusterInfo{
		name:          name,
		endpoint:      fmt.Sprintf("https://%s.gr7.%s.eks.amazonaws.com", h, m.region()),
		issuer:        fmt.Sprintf("https://oidc.eks.%s.amazonaws.com/id/%s", m.region(), h),
		caData:        base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMOCK " + name + "\n-----END CERTIFICATE-----\n")),
		arn:           fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", m.region(), m.account(), name),
		securityGroup: "sg-" + hash("cluster-sg", name)[:12],
	}
}

// kubeconfig is the exec-based kubeconfig pulumi-eks generates for a cluster.
func (m *Mocks) kubeconfig(name string, info clusterInfo) map[string]any {
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{
			"name":    "kubernetes",
			"cluster": map[string]any{"server": info.endpoint, "certificate-authority-data": info.caData},
		}},
		"contexts": []any{map[string]any{
			"name":    "aws",
			"context": map[string]any{"cluster": "kubernetes", "user": "aws"},
		}},
		"current-context": "aws",
		"users": []any{map[string]any{
			"name": "aws",
			"user": map[string]any{"exec": map[string]any{
				"apiVersion": "client.authentication.k8s.io/v1beta1",
				"command":    "aws",
				"args":       []any{"eks", "get-token", "--cluster-name", name, "--output", "json"},
				"env":        []any{map[string]any{"name": "AWS_REGION", "value": m.region()}},
			}},
		}},
	}
}

func (m *Mocks) defaultCall(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if out, ok := m.appCall(args); ok {
		return out, nil
	}
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		// Zone i+1 is named <region><letter i>; excluded zone ids are left out, as AWS does.
		excluded := map[string]bool{}
		if v, ok := args.Args["excludeZoneIds"]; ok && v.IsArray() {
			for _, e := range v.ArrayValue() {
				excluded[e.StringValue()] = true
			}
		}
		var names, ids []any
		for i, letter := range "abcdef" {
			id := fmt.Sprintf("%s-az%d", zonePrefix(m.region()), i+1)
			if !excluded[id] {
				names = append(names, fmt.Sprintf("%s%c", m.region(), letter))
				ids = append(ids, id)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": m.region(), "names": names, "zoneIds": ids, "groupNames": []any{m.region()},
		}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": m.account(), "accountId": m.account(), "userId": "AIDAMOCKUSER",
			"arn": fmt.Sprintf("arn:aws:iam::%s:user/mock", m.account()),
		}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": m.region(), "name": m.region(), "region": m.region(), "description": m.region(),
			"endpoint": fmt.Sprintf("ec2.%s.amazonaws.com", m.region()),
		}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
		}), nil
	case "aws:eks/getCluster:getCluster":
		name := stringInput(args.Args, "name")
		info := m.clusterInfo(name)
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": name, "name": name, "arn": info.arn, "endpoint": info.endpoint, "status": "ACTIVE",
			"certificateAuthorities": []any{map[string]any{"data": info.caData}},
			"identities":             []any{map[string]any{"oidcs": []any{map[string]any{"issuer": info.issuer}}}},
			"vpcConfig": map[string]any{
				"clusterSecurityGroupId": info.securityGroup,
				"endpointPrivateAccess":  true,
			},
		}), nil
	case "eks:index:Cluster/getKubeconfig":
		name := m.Stack
		if self, ok := args.Args["__self__"]; ok && self.IsResourceReference() {
			if r, ok := m.ByURN(string(self.ResourceReferenceValue().URN)); ok {
				name = physicalName(pulumi.MockResourceArgs{Inputs: r.Inputs, Name: r.Name})
			}
		}
		raw, err := json.Marshal(m.kubeconfig(name, m.clusterInfo(name)))
		if err != nil {
			return nil, err
		}
		return resource.PropertyMap{"result": resource.MakeSecret(resource.NewProperty(string(raw)))}, nil
	}
	return nil, fmt.Errorf("pulumimock: no answer for call %s (add it to outputs.go or set Mocks.OnCall)", args.Token)
}
