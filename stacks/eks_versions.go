package stacks

import (
	"fmt"
	"strconv"
	"time"
)

// eksStandardSupportEnds is the Amazon EKS Kubernetes release calendar: the day each minor's standard
// support ends. Extended support (charged per cluster hour) starts at 00:00 UTC that day and lasts
// 12 months; then EKS upgrades the control plane itself. This is the only copy of the calendar in
// the code: the default version, the validation and the README follow it.
//
// Source: https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html#kubernetes-release-calendar
// checked 2026-12-01: 1.29–1.34 from the stored copy of that page; 1.35 and 1.36 (EKS release
// 2 June 2026) as copied from it by endoflife.date/amazon-eks and EKS review checklists, the stored
// copy predating them. EKS did not offer 1.37 on that day (aws/containers-roadmap#2864 still open).
// When EKS publishes a minor, add its row here.
var eksStandardSupportEnds = []struct {
	minor int
	end   time.Time
}{
	{29, day(2025, time.March, 23)},
	{30, day(2025, time.July, 23)},
	{31, day(2025, time.November, 26)},
	{32, day(2026, time.March, 23)},
	{33, day(2026, time.July, 29)},
	{34, day(2026, time.December, 2)},
	{35, day(2027, time.March, 27)},
	{36, day(2027, time.August, 2)},
}

// supportWarningDays is how long before the end of standard support a stack is warned: EKS announces
// the end at least 60 days ahead, and a minor-by-minor upgrade of every stack takes planning.
const supportWarningDays = 60

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// newestKubernetesMinor is the newest minor in the calendar: the default of every stack.
func newestKubernetesMinor() string {
	return fmt.Sprintf("1.%d", eksStandardSupportEnds[len(eksStandardSupportEnds)-1].minor)
}

// checkKubernetesSupport judges a "1.N" version against the calendar at now: problem is set when its
// EKS standard support has ended (or the calendar does not know it), warning when it ends within
// supportWarningDays.
func checkKubernetesSupport(version string, minor int, now time.Time) (problem, warning string) {
	newest := newestKubernetesMinor()
	first, last := eksStandardSupportEnds[0], eksStandardSupportEnds[len(eksStandardSupportEnds)-1]
	switch {
	case minor < first.minor:
		return fmt.Sprintf("%s is out of EKS standard support (every minor before 1.%d ended by %s); use %s",
			version, first.minor, date(first.end), newest), ""
	case minor > last.minor:
		return fmt.Sprintf("%s is not in the EKS release calendar known to this program (newest: %s); "+
			"add its end of standard support to eksStandardSupportEnds in stacks/eks_versions.go", version, newest), ""
	}
	end := eksStandardSupportEnds[minor-first.minor].end
	if !now.Before(end) {
		return fmt.Sprintf("%s is out of EKS standard support since %s: a cluster on it pays for extended support "+
			"until %s, then EKS upgrades it; use %s", version, date(end), date(end.AddDate(1, 0, 0)), newest), ""
	}
	if left := end.Sub(now); left <= supportWarningDays*24*time.Hour {
		return "", fmt.Sprintf("%s leaves EKS standard support on %s (in %s); upgrade one minor at a time towards %s "+
			"(README: Upgrading Kubernetes) before then, or extended support is charged", version, date(end), days(left), newest)
	}
	return "", ""
}

func date(t time.Time) string { return t.Format("2 January 2006") }

func days(d time.Duration) string {
	n := int(d.Hours()+23) / 24 // a part day counts as one: "in 1 day" until the last hour
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}
