package tracing

import (
	"context"
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkage-platform/linkage/app/linkage"
)

// carrierKey is the key the trace context travels under in a task's JSON payload; handlers
// decoding the payload into their own struct ignore it.
const carrierKey = "trace"

// Queue passes trace context from Enqueue to the handler of Consume: it is added to the
// task's JSON payload, and each handled task runs in a consumer span, child of the span that
// enqueued it, with the task kind and the run id (from the payload's run_id) as attributes.
type Queue struct {
	linkage.Queue
}

// Enqueue injects the trace context of ctx into t's payload.
func (q Queue) Enqueue(ctx context.Context, t linkage.Task) error {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if len(carrier) > 0 {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(t.Payload, &fields); err == nil && fields != nil {
			fields[carrierKey], _ = json.Marshal(carrier) // a map of strings always encodes
			if p, err := json.Marshal(fields); err == nil {
				t.Payload = p
			}
		}
	}
	return q.Queue.Enqueue(ctx, t)
}

// Consume runs h for each task inside a consumer span.
func (q Queue) Consume(ctx context.Context, concurrency int, h func(context.Context, linkage.Task) error) error {
	return q.Queue.Consume(ctx, concurrency, func(ctx context.Context, t linkage.Task) error {
		var p struct {
			ProjectID string                 `json:"project_id"`
			RunID     string                 `json:"run_id"`
			Chunk     int                    `json:"chunk"`
			Trace     propagation.MapCarrier `json:"trace"`
		}
		_ = json.Unmarshal(t.Payload, &p) // a malformed payload is the handler's to report
		parent := otel.GetTextMapPropagator().Extract(ctx, p.Trace)
		ctx, span := Tracer().Start(parent, "task "+t.Kind, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(AttrTaskKind.String(t.Kind), AttrProjectID.String(p.ProjectID), AttrRunID.String(p.RunID)))
		if t.Kind == "run.chunk" {
			span.SetAttributes(AttrChunk.Int(p.Chunk))
		}
		defer span.End()
		err := h(ctx, t)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, fmt.Sprintf("task %s: %v", t.ID, err))
		}
		return err
	})
}
