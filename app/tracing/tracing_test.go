package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/memqueue"
)

// record installs a provider that keeps every span in memory.
func record(t *testing.T) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return rec
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, a := range s.Attributes() {
		if a.Key == key {
			return a.Value.String()
		}
	}
	return ""
}

func TestRequestContinuesClientTraceAndNamesRoute(t *testing.T) {
	rec := record(t)
	pid, rid := linkage.NewID(), linkage.NewID()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/projects/{pid}/runs/{rid}/status", func(w http.ResponseWriter, r *http.Request) {
		require.True(t, trace.SpanContextFromContext(r.Context()).IsValid(), "handlers see the span")
		w.WriteHeader(http.StatusTeapot)
	})
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := httptest.NewRequest("GET", "/api/v1/projects/"+pid+"/runs/"+rid+"/status", nil)
	r.Header.Set("traceparent", traceparent)
	r, end := StartRequest(r)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	end("GET /projects/{pid}/runs/{rid}/status", w.Code)

	spans := rec.Ended()
	require.Len(t, spans, 1)
	s := spans[0]
	require.Equal(t, "GET GET /projects/{pid}/runs/{rid}/status", s.Name())
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext().TraceID().String())
	require.Equal(t, "00f067aa0ba902b7", s.Parent().SpanID().String())
	require.Equal(t, trace.SpanKindServer, s.SpanKind())
	require.Equal(t, pid, attr(s, AttrProjectID))
	require.Equal(t, rid, attr(s, AttrRunID))
	require.Equal(t, "418", attr(s, "http.response.status_code"))
}

func TestQueueCarriesTraceToHandler(t *testing.T) {
	rec := record(t)
	q := Queue{memqueue.New(memqueue.Options{Backoff: time.Millisecond})}
	ctx, api := Tracer().Start(context.Background(), "POST /projects/{pid}/runs")
	rid := linkage.NewID()
	payload, _ := json.Marshal(map[string]any{"project_id": "p", "run_id": rid, "chunk": 3})
	require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "run.chunk:" + rid + ":3", Kind: "run.chunk", Payload: payload}))
	api.End()

	cctx, cancel := context.WithCancel(context.Background())
	got := make(chan linkage.Task, 1)
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(cctx, 1, func(ctx context.Context, task linkage.Task) error {
			require.Equal(t, api.SpanContext().TraceID(), trace.SpanContextFromContext(ctx).TraceID())
			got <- task
			return nil
		})
	}()
	task := <-got
	cancel()
	require.NoError(t, <-done)

	var fields map[string]any
	require.NoError(t, json.Unmarshal(task.Payload, &fields))
	require.Equal(t, rid, fields["run_id"], "the payload keeps its fields")
	require.Contains(t, fields, "trace")

	var consumer sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "task run.chunk" {
			consumer = s
		}
	}
	require.NotNil(t, consumer)
	require.Equal(t, api.SpanContext().SpanID(), consumer.Parent().SpanID(), "the task span is a child of the enqueuing span")
	require.Equal(t, rid, attr(consumer, AttrRunID))
	require.Equal(t, "3", attr(consumer, AttrChunk))
	require.Equal(t, trace.SpanKindConsumer, consumer.SpanKind())
}

func TestQueueWithoutTracing(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	q := Queue{memqueue.New(memqueue.Options{})}
	payload := []byte(`{"run_id":"r"}`)
	got := make(chan []byte, 1)
	require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: "x", Kind: "run.start", Payload: payload}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = q.Consume(ctx, 1, func(_ context.Context, task linkage.Task) error { got <- task.Payload; return nil })
	}()
	require.Equal(t, payload, <-got, "no span, no change to the payload")
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	record(t)
	var buf bytes.Buffer
	log := slog.New(LogHandler{slog.NewJSONHandler(&buf, nil)}).With("component", "test")
	ctx, span := Tracer().Start(context.Background(), "op")
	log.InfoContext(ctx, "with span")
	span.End()
	log.Info("without span")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var with, without map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &with))
	require.NoError(t, json.Unmarshal(lines[1], &without))
	require.Equal(t, span.SpanContext().TraceID().String(), with["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), with["span_id"])
	require.Equal(t, "test", with["component"])
	require.NotContains(t, without, "trace_id")
}

func TestSetup(t *testing.T) {
	shutdown, err := Setup(context.Background(), Config{})
	require.NoError(t, err)
	require.NoError(t, shutdown(context.Background()))

	// An endpoint is dialled lazily: Setup succeeds and shutdown gives up at its deadline.
	prev := otel.GetTracerProvider()
	defer otel.SetTracerProvider(prev)
	shutdown, err = Setup(context.Background(), Config{Endpoint: "http://127.0.0.1:1", SampleRatio: 1, Service: "linkage", Role: "test"})
	require.NoError(t, err)
	_, span := Tracer().Start(context.Background(), "op")
	require.True(t, span.SpanContext().IsSampled())
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = shutdown(ctx) // the collector is not there: the export fails, Setup's part did not
}
