package http

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// Slow clients: a body that trickles in holds a goroutine, an upload claim and buffers. Every
// read of a request body therefore has a deadline: an upload must send something every
// UploadIdleTimeout and finish within UploadTimeout; other bodies must arrive within
// BodyTimeout. The update-token claim outlives UploadTimeout (by default), so it is not taken
// over from an upload that is still alive.

// deadlineBody sets the connection's read deadline before each read of r.
type deadlineBody struct {
	r           io.Reader
	rc          *http.ResponseController
	idle, total time.Duration // idle 0: the total only
	end         time.Time
	idleFlag    string // the flag setting idle, for the error
	totalFlag   string
}

// timedBody is r's body under a deadline total from now and, if idle > 0, idle after each read;
// the flags that set them are named in the 408.
func timedBody(w http.ResponseWriter, r *http.Request, idle, total time.Duration, idleFlag, totalFlag string) io.ReadCloser {
	return struct {
		io.Reader
		io.Closer
	}{&deadlineBody{r: r.Body, rc: http.NewResponseController(w), idle: idle, total: total, end: time.Now().Add(total),
		idleFlag: idleFlag, totalFlag: totalFlag}, r.Body}
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	dl := d.end
	if d.idle > 0 {
		if t := time.Now().Add(d.idle); t.Before(dl) {
			dl = t
		}
	}
	_ = d.rc.SetReadDeadline(dl) // not supported (e.g. HTTP/2 in some setups): no deadline
	n, err := d.r.Read(p)
	switch {
	case err == io.EOF:
		// The server now reads ahead to notice a client going away; that read must not time
		// out while the handler finishes.
		_ = d.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		if time.Now().Before(d.end) {
			return n, problemf(http.StatusRequestTimeout, "Request Timeout", "no body data for %s (configurable with --%s)", d.idle, d.idleFlag)
		}
		return n, problemf(http.StatusRequestTimeout, "Request Timeout", "the body was not received within %s (configurable with --%s)", d.total, d.totalFlag)
	}
	return n, err
}

// clientUploads bounds the uploads running at once per client address: each holds a claim,
// a blob writer and buffers.
type clientUploads struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// acquire counts an upload of addr; false when addr has max running already.
func (c *clientUploads) acquire(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[addr] >= c.max {
		return false
	}
	c.n[addr]++
	return true
}

func (c *clientUploads) release(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[addr]--; c.n[addr] <= 0 {
		delete(c.n, addr) // the map holds only clients with uploads running
	}
}

func tooManyUploads(max int) *problem {
	p := problemf(http.StatusTooManyRequests, "Too Many Requests",
		"this client has %d uploads running already (configurable with --max-uploads-per-client)", max)
	p.Limit = "max-uploads-per-client"
	return p
}
