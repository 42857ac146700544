package policy

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// Resource types and names the autoscaling rules read.
const (
	asgTag           = "aws:autoscaling/tag:Tag"
	k8sHPA           = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
	labelTemplateTag = "k8s.io/cluster-autoscaler/node-template/label/"
	taintTemplateTag = "k8s.io/cluster-autoscaler/node-template/taint/"
)

var (
	minorRe      = regexp.MustCompile(`^v?1\.(\d+)`)
	resizeAction = []string{"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup", "autoscaling:*"}
)

// releases returns the Helm releases of a chart.
func releases(rs Resources, chart string) Resources {
	var out Resources
	for _, r := range rs.ByType(helmRelease) {
		if str(r.Input("chart")) == chart {
			out = append(out, r)
		}
	}
	return out
}

// NodeAutoscaler: a cluster whose node groups can grow runs exactly one cluster autoscaler, of the
// cluster's minor version, discovering this cluster's groups, under an IRSA role (not the nodes'
// role); and no IAM policy lets anything resize Auto Scaling groups other than this cluster's.
func NodeAutoscaler(rs Resources) []Finding {
	var out []Finding
	for _, p := range policyDocuments(rs) {
		r := p.r
		if p.err != nil {
			continue // no-wildcard-iam-actions reports unparsable documents
		}
		for _, st := range p.doc.Statement {
			if st.Effect != "Allow" || !slices.ContainsFunc(st.Action, func(a string) bool { return slices.Contains(resizeAction, a) }) {
				continue
			}
			scoped := false
			for key, values := range st.Condition["StringEquals"] {
				scoped = scoped || (strings.HasPrefix(key, "aws:ResourceTag/k8s.io/cluster-autoscaler/") && slices.Equal(values, iampolicy.Strings{"owned"}))
			}
			if !scoped {
				out = append(out, finding(r, "statement %q resizes Auto Scaling groups without a condition on the cluster's owned tag", st.Sid))
			}
		}
	}

	clusters := rs.ByType(eksCluster)
	growable := false
	for _, g := range rs.ByType(nodeGroup) {
		lo, _ := num(g.Input("scalingConfig.minSize"))
		hi, _ := num(g.Input("scalingConfig.maxSize"))
		growable = growable || hi > lo
	}
	if len(clusters) == 0 || !growable {
		return out
	}
	c := clusters[0]
	cas := releases(rs, "cluster-autoscaler")
	if len(cas) != 1 {
		return append(out, finding(c, "%d cluster-autoscaler releases, want 1: nothing grows the node groups beyond their desired size", len(cas)))
	}
	ca := cas[0]
	if got, want := str(ca.Input("values.autoDiscovery.clusterName")), str(c.Input("name")); got != want {
		out = append(out, finding(ca, "discovers the node groups of cluster %q, want %q", got, want))
	}
	tag, version := minorRe.FindStringSubmatch(str(ca.Input("values.image.tag"))), minorRe.FindStringSubmatch(str(c.Input("version")))
	if tag == nil || version == nil || tag[1] != version[1] {
		out = append(out, finding(ca, "image tag %q is not of the cluster's minor version %s", str(ca.Input("values.image.tag")), str(c.Input("version"))))
	}
	if str(obj(ca.Input("values.rbac.serviceAccount.annotations"))[irsaRoleKey]) == "" {
		out = append(out, finding(ca, "its service account has no IRSA role: it would need the nodes' role to resize groups"))
	}
	return out
}

// MetricsServerForHPA: HorizontalPodAutoscalers have CPU figures to act on (metrics-server).
func MetricsServerForHPA(rs Resources) []Finding {
	hpas := rs.ByType(k8sHPA)
	if len(hpas) == 0 || len(rs.ByType(eksCluster)) == 0 {
		return nil // a kubeconfig cluster brings its own metrics (minikube's addon, kind's manifest)
	}
	if len(releases(rs, "metrics-server")) == 0 {
		return []Finding{finding(hpas[0], "no metrics-server: the %d HorizontalPodAutoscalers never scale", len(hpas))}
	}
	return nil
}

// ScaleFromZeroTags: a node group that may be at zero nodes tells the autoscaler its nodes' labels and
// taints through tags on its Auto Scaling group, or pods that select its label never trigger a node.
func ScaleFromZeroTags(rs Resources) []Finding {
	tags := map[string]map[string]string{} // Auto Scaling group -> tag key -> value
	for _, t := range rs.ByType(asgTag) {
		asg := str(t.Input("autoscalingGroupName"))
		if tags[asg] == nil {
			tags[asg] = map[string]string{}
		}
		tags[asg][str(t.Input("tag.key"))] = str(t.Input("tag.value"))
	}
	effects := map[string]string{"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
	var out []Finding
	for _, g := range rs.ByType(nodeGroup) {
		if lo, _ := num(g.Input("scalingConfig.minSize")); lo > 0 {
			continue
		}
		asg := ""
		if res := list(pulumimock.Plain(g.Outputs, false)["resources"]); len(res) > 0 {
			if groups := list(obj(res[0])["autoscalingGroups"]); len(groups) > 0 {
				asg = str(obj(groups[0])["name"])
			}
		}
		want := map[string]string{}
		for k, v := range obj(g.Input("labels")) {
			want[labelTemplateTag+k] = str(v)
		}
		for _, t := range list(g.Input("taints")) {
			m := obj(t)
			want[taintTemplateTag+str(m["key"])] = str(m["value"]) + ":" + effects[str(m["effect"])]
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if got, ok := tags[asg][k]; !ok || got != want[k] {
				out = append(out, finding(g, "scales from zero but its Auto Scaling group lacks tag %s=%s", k, want[k]))
			}
		}
	}
	return out
}

// ClusterAddonsAfterNodes: every Helm release and every EKS add-on that runs pods (all but vpc-cni
// and kube-proxy, which nodes need to become ready) waits for a node group: installed earlier, its
// pods stay pending and an atomic release or the add-on times out.
func ClusterAddonsAfterNodes(rs Resources) []Finding {
	var groups []string
	for _, g := range rs.ByType(nodeGroup) {
		groups = append(groups, g.URN)
	}
	if len(groups) == 0 {
		return nil // a kubeconfig cluster has its nodes
	}
	var out []Finding
	for _, r := range rs.ByType(helmRelease, eksAddon) {
		if name := str(r.Input("addonName")); name == "vpc-cni" || name == "kube-proxy" {
			continue
		}
		if !slices.ContainsFunc(groups, func(urn string) bool { return slices.Contains(r.DependsOn, urn) }) {
			out = append(out, finding(r, "does not wait for a node group: its pods would have nowhere to run"))
		}
	}
	return out
}
