package policy

import (
	"regexp"
	"slices"
	"strings"

	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// IAM resource types and the input holding their policy document.
var policyInputs = map[string]string{
	"aws:iam/role:Role":                "assumeRolePolicy",
	"aws:iam/rolePolicy:RolePolicy":    "policy",
	"aws:iam/policy:Policy":            "policy",
	"aws:iam/userPolicy:UserPolicy":    "policy",
	"aws:s3/bucketPolicy:BucketPolicy": "policy",
}

var serviceAccountSubRe = regexp.MustCompile(`^system:serviceaccount:[a-z0-9]([a-z0-9-]*[a-z0-9])?:[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

// IRSATrustExact: every role assumed through web identity trusts exactly one declared OIDC provider, for
// exactly one service account, with StringEquals on both <issuer>:sub and <issuer>:aud = sts.amazonaws.com.
func IRSATrustExact(rs Resources) []Finding {
	providers := map[string]bool{}
	for _, p := range rs.ByType("aws:iam/openIdConnectProvider:OpenIdConnectProvider") {
		providers[str(pulumimock.Plain(p.Outputs, false)["arn"])] = true
	}
	var out []Finding
	for _, r := range rs.ByType("aws:iam/role:Role") {
		doc, err := iampolicy.Parse(str(r.Input("assumeRolePolicy")))
		if err != nil {
			out = append(out, finding(r, "%v", err))
			continue
		}
		for _, st := range doc.Statement {
			fed, ok := st.Principal["Federated"]
			if !ok {
				continue
			}
			if len(fed) != 1 || !providers[fed[0]] {
				out = append(out, finding(r, "Federated principal %v is not exactly one OIDC provider of this stack", fed))
				continue
			}
			host := fed[0][strings.Index(fed[0], "oidc-provider/")+len("oidc-provider/"):]
			if !slices.Equal(st.Action, iampolicy.Strings{"sts:AssumeRoleWithWebIdentity"}) {
				out = append(out, finding(r, "web identity trust allows %v, want only sts:AssumeRoleWithWebIdentity", st.Action))
			}
			if len(st.Condition) != 1 || st.Condition["StringEquals"] == nil {
				out = append(out, finding(r, "web identity trust conditions %v: want StringEquals only", keys(st.Condition)))
				continue
			}
			eq := st.Condition["StringEquals"]
			sub, aud := eq[host+":sub"], eq[host+":aud"]
			if len(eq) != 2 || sub == nil || aud == nil {
				out = append(out, finding(r, "StringEquals on %v: want exactly %s:sub and %s:aud", keys(eq), host, host))
				continue
			}
			if len(sub) != 1 || !serviceAccountSubRe.MatchString(sub[0]) {
				out = append(out, finding(r, "sub %v is not exactly one service account", sub))
			}
			if !slices.Equal(aud, iampolicy.Strings{"sts.amazonaws.com"}) {
				out = append(out, finding(r, "aud %v: want sts.amazonaws.com", aud))
			}
		}
	}
	return out
}

// NoWildcardActions: no policy document allows Action "*" (or "*:*"), and none uses Allow with NotAction,
// which grants everything not listed.
func NoWildcardActions(rs Resources) []Finding {
	var out []Finding
	for _, p := range policyDocuments(rs) {
		r := p.r
		if p.err != nil {
			out = append(out, finding(r, "%v", p.err))
			continue
		}
		for _, st := range p.doc.Statement {
			if st.Effect != "Allow" {
				continue
			}
			for _, a := range st.Action {
				if a == "*" || a == "*:*" {
					out = append(out, finding(r, "statement %q allows every action", st.Sid))
				}
			}
			if len(st.NotAction) > 0 {
				out = append(out, finding(r, "statement %q allows everything but %v (NotAction)", st.Sid, st.NotAction))
			}
		}
	}
	return out
}

// policyDocument is the IAM policy document a resource carries, parsed (err when it does not parse).
type policyDocument struct {
	r   pulumimock.Resource
	doc iampolicy.Document
	err error
}

// policyDocuments parses the policy document of every resource that carries one (policyInputs).
func policyDocuments(rs Resources) []policyDocument {
	var out []policyDocument
	for _, r := range rs {
		if input, ok := policyInputs[r.Type]; ok {
			doc, err := iampolicy.Parse(str(r.Input(input)))
			out = append(out, policyDocument{r, doc, err})
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
