//go:build faults

package faulttest

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/worker"
)

// killWorkerAtStart: the only worker is held at "start committed" (the run's chunks are in
// the database, none enqueued) and SIGKILLed there. Workers started afterwards must take the
// run from the database — the plan committed once, not planned again — and give the groups of
// `linkage link`.
func (c *cluster) killWorkerAtStart(t *testing.T) project {
	a, b := c.dataset(8)
	p := c.newProject("groups", a, b)
	c.stopWorkers()
	held := c.startHeld(worker.FaultStartCommitted)
	run := c.newRun(p, threshold)
	held.waitFault(t, worker.FaultStartCommitted)
	held.kill9(t)
	st, ok := c.status(p, run)
	require.True(t, ok)
	require.Equal(t, string(linkage.RunRunning), st.State, "the start committed before the kill")

	fresh := []*proc{c.startWorker(), c.startWorker()}
	c.waitCompleted(p, run, 3*time.Minute)
	c.check(p, run)
	for _, w := range fresh {
		require.Zero(t, w.logCount(t, `"msg":"run started"`), "%s planned the run again", w.name)
	}
	return p
}

// killWorkerAtResultWrite: the only worker is held at "result write" once the first part of a
// similarity_scores result is stored (the scores document; the binary file is not) and
// SIGKILLed there. The API serves no result of the unfinished run; workers started afterwards
// retake the solve and the run's documents — the scores and the binary file at the object-store
// address — are those of `linkage link`.
func (c *cluster) killWorkerAtResultWrite(t *testing.T) project {
	a, b := c.dataset(9)
	p := c.newProject("similarity_scores", a, b)
	c.stopWorkers()
	held := c.startHeld(worker.FaultResultWrite)
	run := c.newRun(p, threshold)
	held.waitFault(t, worker.FaultResultWrite)
	held.kill9(t)
	status, _, body := c.call("GET", "/projects/"+p.id+"/runs/"+run+"/result", p.resultToken, nil, nil)
	require.Equal(t, http.StatusNotFound, status, "a half-written result is not served: %s", body)

	fresh := []*proc{c.startWorker(), c.startWorker()}
	c.waitCompleted(p, run, 3*time.Minute)
	c.check(p, run)
	require.True(t, fresh[0].logHas(t, "taking over a task whose worker stopped") ||
		fresh[1].logHas(t, "taking over a task whose worker stopped"),
		"the killed worker's solve was retaken after the visibility timeout")
	return p
}
