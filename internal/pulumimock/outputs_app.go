package pulumimock

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// appOutputs adds what the providers report for the app's resources (components/linkage): the ECR
// repository's URL, the pushed image's digest, the ALB host name the load balancer controller
// writes into an Ingress's status, and an ACM certificate's DNS validation record.
func (m *Mocks) appOutputs(args pulumi.MockResourceArgs, urn, name string, outputs resource.PropertyMap) {
	switch args.TypeToken {
	case "aws:ecr/repository:Repository":
		outputs["registryId"] = resource.NewProperty(m.account())
		outputs["repositoryUrl"] = resource.NewProperty(fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", m.account(), m.region(), name))
	case "docker:index/image:Image":
		image := stringInput(args.Inputs, "imageName")
		repo := image
		if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
			repo = image[:i]
		}
		outputs["repoDigest"] = resource.NewProperty(repo + "@sha256:" + strings.Repeat(hash(urn, image), 4))
	case "kubernetes:networking.k8s.io/v1:Ingress":
		host := fmt.Sprintf("k8s-%s-%s.%s.elb.amazonaws.com", name, hash(urn)[:10], m.region())
		outputs["status"] = resource.NewProperty(resource.NewPropertyMapFromMap(map[string]any{
			"loadBalancer": map[string]any{"ingress": []any{map[string]any{"hostname": host}}},
		}))
	case "aws:acm/certificate:Certificate":
		domain := stringInput(args.Inputs, "domainName")
		outputs["domainValidationOptions"] = resource.NewProperty([]resource.PropertyValue{
			resource.NewProperty(resource.NewPropertyMapFromMap(map[string]any{
				"domainName":          domain,
				"resourceRecordName":  "_" + hash(urn, "name") + "." + domain + ".",
				"resourceRecordType":  "CNAME",
				"resourceRecordValue": "_" + hash(urn, "value") + ".acm-validations.aws.",
			})),
		})
	}
}

// appCall answers the provider functions the app's resources call; ok is false for any other.
func (m *Mocks) appCall(args pulumi.MockCallArgs) (resource.PropertyMap, bool) {
	switch args.Token {
	case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
		endpoint := fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", m.account(), m.region())
		return resource.PropertyMap{
			"id":                 resource.NewProperty(m.region()),
			"userName":           resource.NewProperty("AWS"),
			"password":           resource.MakeSecret(resource.NewProperty("mock-ecr-token")),
			"authorizationToken": resource.MakeSecret(resource.NewProperty("QVdTOm1vY2stZWNyLXRva2Vu")),
			"proxyEndpoint":      resource.NewProperty(endpoint),
			"expiresAt":          resource.NewProperty("2030-01-01T00:00:00Z"),
		}, true
	case "aws:lb/getHostedZoneId:getHostedZoneId":
		// The canonical hosted zone of ALBs in us-east-1 (an alias record's target zone).
		return resource.PropertyMap{"id": resource.NewProperty("Z35SXDOTRQ7X7K")}, true
	}
	return nil, false
}
