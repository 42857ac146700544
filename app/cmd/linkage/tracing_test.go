package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// otlpCollector receives OTLP/gRPC trace exports in memory.
type otlpCollector struct {
	collector.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (c *otlpCollector) Export(_ context.Context, req *collector.ExportTraceServiceRequest) (*collector.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	return &collector.ExportTraceServiceResponse{}, nil
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.GetStringValue()
		}
	}
	return ""
}

// syncBuffer is a log sink written by the command and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTracesAcrossAPIQueueAndWorker runs all-in-one exporting to an OTLP collector and follows
// one run: the API request that created it and its start, chunk and solve tasks are one trace,
// every span carries the run id, and the run's log lines carry the trace id.
func TestTracesAcrossAPIQueueAndWorker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	col := &otlpCollector{}
	gs := grpc.NewServer()
	collector.RegisterTraceServiceServer(gs, col)
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()

	logs := &syncBuffer{}
	base, done, cancel := startAllInOne(t, []string{"--data-dir", t.TempDir(), "--otlp-endpoint", "http://" + ln.Addr().String(),
		"--chunk-comparisons", "300000"}, logs)
	_, _, rid := linkBinaryFile(t, base)
	cancel()
	require.NoError(t, <-done) // shutdown flushes the spans

	col.mu.Lock()
	defer col.mu.Unlock()
	var create *tracepb.Span
	kinds := map[string]int{}
	for _, s := range col.spans {
		if s.Name == "POST POST /projects/{pid}/runs" && spanAttr(s, "linkage.run_id") == rid {
			create = s
		}
	}
	require.NotNil(t, create, "the request span that created the run")
	traceID := hex.EncodeToString(create.TraceId)
	for _, s := range col.spans {
		if strings.HasPrefix(s.Name, "task ") && spanAttr(s, "linkage.run_id") == rid {
			require.Equal(t, traceID, hex.EncodeToString(s.TraceId), "%s is in the run's trace", s.Name)
			kinds[s.Name]++
		}
	}
	require.Equal(t, 1, kinds["task run.start"])
	require.Greater(t, kinds["task run.chunk"], 1, "the run was split into chunks")
	require.GreaterOrEqual(t, kinds["task run.solve"], 1)

	var completed map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"run completed"`) {
			require.NoError(t, json.Unmarshal([]byte(line), &completed))
		}
	}
	require.Equal(t, traceID, completed["trace_id"], "the worker's log line joins the trace")
}
