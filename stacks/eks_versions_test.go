package stacks_test

import (
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/internal/pulumimock"
	"github.com/linkage-platform/linkage/stacks"
)

// loadAt runs LoadConfig as if on the given day, with kube-proxy at the version's minor unless the
// extra values say otherwise.
func loadAt(t *testing.T, version string, now time.Time, extra ...string) (*stacks.Config, error) {
	t.Helper()
	var cfg *stacks.Config
	values := map[string]string{"aws:region": "us-east-1", "linkage:kubernetesVersion": version}
	values["linkage:addons"] = `{"kubeProxy": "v` + version + `.0-eksbuild.1"}`
	for i := 0; i+1 < len(extra); i += 2 {
		values[extra[i]] = extra[i+1]
	}
	_, err := pulumimock.RunProgram("linkage", "test", pulumimock.Config{Values: values}, func(ctx *pulumi.Context) error {
		var err error
		cfg, err = stacks.LoadConfigAt(ctx, now)
		return err
	})
	return cfg, err
}

// The case, on the real clock: 1.33 left EKS standard support on 29 July 2026 (EKS release
// calendar), so a stack on it is refused with that date.
func TestKubernetesVersionOutOfStandardSupportIsRefusedWithItsEndDate(t *testing.T) {
	_, err := load(t, map[string]string{
		"aws:region": "us-east-1", "linkage:kubernetesVersion": "1.33", "linkage:addons": `{"kubeProxy": "v1.33.10-eksbuild.2"}`,
	})
	ps := problems(t, err)
	require.Len(t, ps, 1, "%v", err)
	require.Equal(t, "linkage:kubernetesVersion", ps[0].Key)
	require.Contains(t, ps[0].Reason, "1.33 is out of EKS standard support since 29 July 2026")
	require.Contains(t, ps[0].Reason, "until 29 July 2027")
	require.Contains(t, ps[0].Reason, "use 1.36")
}

func TestKubernetesVersionSupportAtAGivenDay(t *testing.T) {
	d := func(y int, m time.Month, dd int) time.Time { return time.Date(y, m, dd, 12, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		name, version   string
		now             time.Time
		problem, warned string // substrings; empty: none
	}{
		{"1.34 the day before its end is warned", "1.34", d(2026, time.December, 1), "", "1.34 leaves EKS standard support on 2 December 2026 (in 1 day)"},
		{"1.34 on its end day is refused", "1.34", d(2026, time.December, 2), "out of EKS standard support since 2 December 2026", ""},
		{"1.35 61 days before its end is quiet", "1.35", d(2027, time.January, 25), "", ""},
		{"1.35 60 days before its end is warned", "1.35", d(2027, time.January, 26), "", "on 27 March 2027 (in 60 days)"},
		{"1.36 today is quiet", "1.36", d(2026, time.December, 1), "", ""},
		{"1.36 after 2 August 2027 is refused", "1.36", d(2027, time.August, 3), "since 2 August 2027", ""},
		{"a minor older than the calendar", "1.25", d(2026, time.December, 1), "1.25 is out of EKS standard support (every minor before 1.29 ended by 23 March 2025)", ""},
		{"a minor EKS does not offer yet", "1.37", d(2026, time.December, 1), "1.37 is not in the EKS release calendar", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadAt(t, c.version, c.now)
			if c.problem != "" {
				ps := problems(t, err)
				require.Len(t, ps, 1, "%v", err)
				require.Equal(t, "linkage:kubernetesVersion", ps[0].Key)
				require.Contains(t, ps[0].Reason, c.problem)
				return
			}
			require.NoError(t, err)
			if c.warned == "" {
				require.Empty(t, cfg.Warnings)
				return
			}
			require.Len(t, cfg.Warnings, 1)
			require.Equal(t, "linkage:kubernetesVersion", cfg.Warnings[0].Key)
			require.Contains(t, cfg.Warnings[0].Reason, c.warned)
		})
	}
}

// An upgrade goes one minor at a time: control plane, then add-ons, then node groups. Between the
// steps the node groups and kube-proxy trail by one minor (a warning says to finish); never by two,
// and never ahead.
func TestUpgradeStepsAreWarnedAndWiderSkewIsRefused(t *testing.T) {
	today := time.Date(2026, time.December, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name         string
		extra        []string
		key, problem string
		warned       []string // warning keys
	}{
		{"control plane upgraded first", []string{"linkage:nodeKubernetesVersion", "1.35", "linkage:addons", `{"kubeProxy": "v1.35.3-eksbuild.2"}`},
			"", "", []string{"linkage:addons.kubeProxy", "linkage:nodeKubernetesVersion"}},
		{"add-ons next", []string{"linkage:nodeKubernetesVersion", "1.35"}, "", "", []string{"linkage:nodeKubernetesVersion"}},
		{"node groups two minors behind", []string{"linkage:nodeKubernetesVersion", "1.34"},
			"linkage:nodeKubernetesVersion", "1.34: the node groups must run kubernetesVersion 1.36 or, while it is being upgraded, the minor before", nil},
		{"node groups ahead", []string{"linkage:nodeKubernetesVersion", "1.37"}, "linkage:nodeKubernetesVersion", "1.37: the node groups must run", nil},
		{"kube-proxy ahead", []string{"linkage:addons", `{"kubeProxy": "v1.37.0-eksbuild.1"}`}, "linkage:addons.kubeProxy", "does not match kubernetesVersion 1.36", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadAt(t, "1.36", today, c.extra...)
			if c.problem != "" {
				ps := problems(t, err)
				require.Len(t, ps, 1, "%v", err)
				require.Equal(t, c.key, ps[0].Key)
				require.Contains(t, ps[0].Reason, c.problem)
				return
			}
			require.NoError(t, err)
			var keys []string
			for _, w := range cfg.Warnings {
				keys = append(keys, w.Key)
			}
			require.ElementsMatch(t, c.warned, keys)
			require.Equal(t, "1.35", cfg.Platform.Cluster.NodeVersion)
		})
	}
}

// In the middle of an upgrade the control plane runs the new minor and the node groups the old one.
func TestNodeGroupsRunTheirOwnMinorWhileTheControlPlaneIsUpgraded(t *testing.T) {
	values := map[string]string{"aws:region": "us-east-1", "linkage:kubernetesVersion": "1.36", "linkage:nodeKubernetesVersion": "1.35"}
	m, err := pulumimock.RunProgram("linkage", "test", pulumimock.Config{Values: values}, stacks.Run)
	require.NoError(t, err)
	clusters := m.ByType("eks:index:Cluster") // the pulumi-eks component
	require.Len(t, clusters, 1)
	require.Equal(t, "1.36", clusters[0].Input("version"))
	groups := m.ByType("aws:eks/nodeGroup:NodeGroup")
	require.NotEmpty(t, groups)
	for _, g := range groups {
		require.Equal(t, "1.35", g.Input("version"), g.Name)
	}
}
