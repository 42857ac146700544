package memqueue_test

import (
	"testing"
	"time"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/linkage/queuetest"
	"github.com/linkage-platform/linkage/app/memqueue"
)

func TestQueue(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, dropped func(linkage.Task, int)) linkage.Queue {
		return memqueue.New(memqueue.Options{MaxAttempts: 3, Backoff: 10 * time.Millisecond, Dropped: dropped})
	})
}
