package policy

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"

	"github.com/linkage-platform/linkage/components/network"
)

// Names the access rules read.
const (
	clusterAdminPolicy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
	viewPolicy         = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
	albAnnotation      = "alb.ingress.kubernetes.io/"
)

// InternetFacingTLS: an internet-facing ALB serves HTTPS with a certificate and redirects HTTP to it:
// tokens, uploads and results never cross the internet in clear text.
func InternetFacingTLS(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(k8sIngress) {
		a := obj(r.Input("metadata.annotations"))
		if str(a[albAnnotation+"scheme"]) != "internet-facing" {
			continue
		}
		if str(a[albAnnotation+"certificate-arn"]) == "" {
			out = append(out, finding(r, "internet-facing without a certificate (certificate-arn): plain HTTP"))
		}
		var ports []map[string]int
		_ = json.Unmarshal([]byte(str(a[albAnnotation+"listen-ports"])), &ports)
		if !slices.ContainsFunc(ports, func(p map[string]int) bool { return p["HTTPS"] == 443 }) {
			out = append(out, finding(r, "internet-facing without an HTTPS listener on 443 (listen-ports %s)", str(a[albAnnotation+"listen-ports"])))
		}
		if str(a[albAnnotation+"ssl-redirect"]) != "443" {
			out = append(out, finding(r, "HTTP is not redirected to HTTPS (ssl-redirect)"))
		}
	}
	return out
}

// NoDocumentationRanges: no address list that admits clients (API endpoint, security groups, ALB
// inbound CIDRs) names a documentation range: such a stack was copied from an example, and its real
// users (and CI) are locked out.
func NoDocumentationRanges(rs Resources) []Finding {
	var out []Finding
	check := func(r Resources, i int, where string, cidrs []string) {
		for _, c := range cidrs {
			p, err := netip.ParsePrefix(strings.TrimSpace(c))
			if err == nil && network.IsDocumentationRange(p) {
				out = append(out, finding(r[i], "%s %s is a documentation range", where, c))
			}
		}
	}
	clusters := rs.ByType(eksCluster)
	for i, r := range clusters {
		check(clusters, i, "publicAccessCidrs", strs(r.Input("publicAccessCidrs")))
	}
	sgs := rs.ByType(securityGroup)
	for i, r := range sgs {
		for _, rule := range list(r.Input("ingress")) {
			check(sgs, i, "ingress", strs(obj(rule)["cidrBlocks"]))
		}
	}
	rules := rs.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
	for i, r := range rules {
		check(rules, i, "cidrIpv4", []string{str(r.Input("cidrIpv4"))})
	}
	ingresses := rs.ByType(k8sIngress)
	for i, r := range ingresses {
		if in := str(obj(r.Input("metadata.annotations"))[albAnnotation+"inbound-cidrs"]); in != "" {
			check(ingresses, i, "inbound-cidrs", strings.Split(in, ","))
		}
	}
	return out
}

// CIPrincipals: CI can reach the cluster with two distinct principals: one with cluster admin (deploy)
// and one with read-only view (pull-request previews); viewers hold nothing but the view policy.
func CIPrincipals(rs Resources) []Finding {
	var out []Finding
	for _, c := range rs.ByType(eksCluster) {
		var admins, viewers []string
		for key, e := range obj(c.Input("accessEntries")) {
			entry := obj(e)
			var policies []string
			for _, p := range obj(entry["accessPolicies"]) {
				policies = append(policies, str(obj(p)["policyArn"]))
			}
			principal := str(entry["principalArn"])
			switch {
			case slices.Contains(policies, clusterAdminPolicy):
				admins = append(admins, principal)
				if strings.HasPrefix(key, "viewer") {
					out = append(out, finding(c, "viewer access entry %s (%s) holds cluster admin", key, principal))
				}
			case slices.Equal(policies, []string{viewPolicy}):
				viewers = append(viewers, principal)
			default:
				out = append(out, finding(c, "access entry %s grants %v: want cluster admin or view", key, policies))
			}
		}
		if len(admins) == 0 {
			out = append(out, finding(c, "no deploy principal with cluster admin: only the creator of the cluster can run pulumi up"))
		}
		if len(viewers) == 0 {
			out = append(out, finding(c, "no read-only principal for pull-request previews"))
		}
		for _, v := range viewers {
			if slices.Contains(admins, v) {
				out = append(out, finding(c, "%s is both viewer and admin", v))
			}
		}
	}
	return out
}
