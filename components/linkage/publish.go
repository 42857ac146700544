package linkage

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/acm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	netv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ALB security policy: TLS 1.3 with 1.2 as the floor.
const sslPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// publish sets the API's URL: through the Ingress when there is one, else the in-cluster Service.
func (d *deployer) publish() error {
	if d.args.Ingress == nil {
		d.apiURL = pulumi.Sprintf("http://%s.%s.svc.cluster.local", d.service.Metadata.Name().Elem(), d.args.Namespace)
		d.loadBalancer = pulumi.String("").ToStringOutput()
		return nil
	}
	return d.ingress(*d.args.Ingress)
}

// ingress publishes the API on an ALB (the AWS Load Balancer Controller reconciles it): pods are
// targets directly (target-type ip), health-checked on /readyz; with a domain the ALB serves HTTPS
// with an ACM certificate and redirects HTTP to it.
func (d *deployer) ingress(in IngressArgs) error {
	listen := []map[string]int{{"HTTP": 80}}
	annotations := pulumi.StringMap{
		"alb.ingress.kubernetes.io/scheme":           pulumi.String(in.Scheme),
		"alb.ingress.kubernetes.io/target-type":      pulumi.String("ip"),
		"alb.ingress.kubernetes.io/group.name":       pulumi.String(in.GroupName),
		"alb.ingress.kubernetes.io/healthcheck-path": pulumi.String("/readyz"),
		"alb.ingress.kubernetes.io/success-codes":    pulumi.String("200"),
		// Uploads of millions of CLKs take minutes: the default 60 s idle timeout would cut them.
		"alb.ingress.kubernetes.io/load-balancer-attributes": pulumi.Sprintf(
			"idle_timeout.timeout_seconds=%d,routing.http.drop_invalid_header_fields.enabled=true", in.IdleTimeoutSeconds),
		// Shorter than the pods' preStop pause plus grace period, so draining finishes before they stop.
		"alb.ingress.kubernetes.io/target-group-attributes": pulumi.String("deregistration_delay.timeout_seconds=30"),
	}
	if len(in.InboundCIDRs) > 0 {
		annotations["alb.ingress.kubernetes.io/inbound-cidrs"] = pulumi.String(strings.Join(in.InboundCIDRs, ","))
	}
	rule := netv1.IngressRuleArgs{Http: &netv1.HTTPIngressRuleValueArgs{
		Paths: netv1.HTTPIngressPathArray{netv1.HTTPIngressPathArgs{
			Path:     pulumi.String("/"),
			PathType: pulumi.String("Prefix"),
			Backend: &netv1.IngressBackendArgs{Service: &netv1.IngressServiceBackendArgs{
				Name: d.service.Metadata.Name().Elem(),
				Port: &netv1.ServiceBackendPortArgs{Name: pulumi.String("http")},
			}},
		}},
	}}
	var waitFor []pulumi.Resource
	if in.Domain != "" {
		certArn, validation, err := d.certificate(in)
		if err != nil {
			return err
		}
		waitFor = append(waitFor, validation...)
		listen = append(listen, map[string]int{"HTTPS": 443})
		annotations["alb.ingress.kubernetes.io/certificate-arn"] = certArn
		annotations["alb.ingress.kubernetes.io/ssl-redirect"] = pulumi.String("443")
		annotations["alb.ingress.kubernetes.io/ssl-policy"] = pulumi.String(sslPolicy)
		rule.Host = pulumi.String(in.Domain)
	}
	ports, err := json.Marshal(listen)
	if err != nil {
		return fmt.Errorf("listen ports: %w", err)
	}
	annotations["alb.ingress.kubernetes.io/listen-ports"] = pulumi.String(string(ports))

	// Depending on the controller (in DependsOn) makes `pulumi destroy` delete the Ingress, and so
	// the ALB, while the controller still runs; otherwise the ALB and its ENIs block VPC deletion.
	ing, err := netv1.NewIngress(d.ctx, d.name+"-api", &netv1.IngressArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(apiName), Namespace: d.args.Namespace, Labels: labels("api"), Annotations: annotations,
		},
		Spec: &netv1.IngressSpecArgs{
			IngressClassName: pulumi.String(in.ClassName),
			Rules:            netv1.IngressRuleArray{rule},
		},
	}, d.opts(pulumi.DependsOn(slices.Concat([]pulumi.Resource{d.service}, d.args.DependsOn, waitFor)))...)
	if err != nil {
		return fmt.Errorf("ingress: %w", err)
	}
	d.workloads = append(d.workloads, ing)
	d.loadBalancer = ing.Status.ApplyT(func(s *netv1.IngressStatus) string {
		if s == nil || s.LoadBalancer == nil || len(s.LoadBalancer.Ingress) == 0 || s.LoadBalancer.Ingress[0].Hostname == nil {
			return ""
		}
		return *s.LoadBalancer.Ingress[0].Hostname
	}).(pulumi.StringOutput)
	if in.Domain == "" {
		d.apiURL = pulumi.Sprintf("http://%s", d.loadBalancer)
		return nil
	}
	d.apiURL = pulumi.String("https://" + in.Domain).ToStringOutput()
	if in.HostedZoneID == "" {
		return nil
	}
	return d.dnsRecord(in)
}

// certificate returns the ACM certificate for the domain: the given one, or a new one validated
// through DNS records in the hosted zone (config validation requires one of the two).
func (d *deployer) certificate(in IngressArgs) (pulumi.StringInput, []pulumi.Resource, error) {
	if in.CertificateArn != "" {
		return pulumi.String(in.CertificateArn), nil, nil
	}
	cert, err := acm.NewCertificate(d.ctx, d.name+"-api", &acm.CertificateArgs{
		DomainName:       pulumi.String(in.Domain),
		ValidationMethod: pulumi.String("DNS"),
		KeyAlgorithm:     pulumi.String("RSA_2048"),
		Tags:             pulumi.StringMap{"Name": pulumi.String(in.Domain), "app": pulumi.String("linkage")},
	}, d.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	// One domain, one validation record; ACM fills the options in when it creates the certificate.
	option := cert.DomainValidationOptions.ApplyT(func(opts []acm.CertificateDomainValidationOption) (acm.CertificateDomainValidationOption, error) {
		if len(opts) == 0 {
			return acm.CertificateDomainValidationOption{}, fmt.Errorf("ACM gave no DNS validation record for %s", in.Domain)
		}
		return opts[0], nil
	}).(acm.CertificateDomainValidationOptionOutput)
	record, err := route53.NewRecord(d.ctx, d.name+"-api-cert-validation", &route53.RecordArgs{
		ZoneId:         pulumi.String(in.HostedZoneID),
		Name:           option.ResourceRecordName().Elem(),
		Type:           option.ResourceRecordType().Elem(),
		Records:        pulumi.StringArray{option.ResourceRecordValue().Elem()},
		Ttl:            pulumi.Int(60),
		AllowOverwrite: pulumi.Bool(true),
	}, d.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate validation record: %w", err)
	}
	validation, err := acm.NewCertificateValidation(d.ctx, d.name+"-api", &acm.CertificateValidationArgs{
		CertificateArn:        cert.Arn,
		ValidationRecordFqdns: pulumi.StringArray{record.Fqdn},
	}, d.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate validation: %w", err)
	}
	return validation.CertificateArn, []pulumi.Resource{validation}, nil
}

// dnsRecord points the domain at the ALB with an alias record (valid at a zone apex, unlike a CNAME).
func (d *deployer) dnsRecord(in IngressArgs) error {
	zone := lb.GetHostedZoneIdOutput(d.ctx, lb.GetHostedZoneIdOutputArgs{
		LoadBalancerType: pulumi.String("application"),
	}, d.parent)
	record, err := route53.NewRecord(d.ctx, d.name+"-api", &route53.RecordArgs{
		ZoneId: pulumi.String(in.HostedZoneID),
		Name:   pulumi.String(in.Domain),
		Type:   pulumi.String("A"),
		Aliases: route53.RecordAliasArray{route53.RecordAliasArgs{
			Name: d.loadBalancer, ZoneId: zone.Id(), EvaluateTargetHealth: pulumi.Bool(true),
		}},
	}, d.opts()...)
	if err != nil {
		return fmt.Errorf("dns record: %w", err)
	}
	d.workloads = append(d.workloads, record)
	return nil
}
