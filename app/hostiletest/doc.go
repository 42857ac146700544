// Package hostiletest is the hostile-input suite: the linkage binary runs as `all-in-one` and as
// `serve` + `worker`, and each request or run an attacker can make without credentials (creating
// a project needs none) is sent black box. Each case asserts the answer (status code, or the
// run's error naming the limit), that the peak RSS of every process (VmHWM from /proc) stays
// under its budget, that goroutines and open descriptors (from /metrics) return to their
// baseline, and that a normal project running alongside completes with the reference's scores.
//
// The tests carry the build tag "hostile" (they take a few minutes):
//
//	make test-hostile    # serve + worker needs LINKAGE_TEST_REDIS_URL (make services)
package hostiletest
