// Package tracing sets up OpenTelemetry traces (OTLP over gRPC; off unless an endpoint is
// configured) and carries them across the service: HTTP requests become server spans, queue
// tasks carry the W3C trace context of the request or task that enqueued them, and log records
// written with a context get its trace_id and span_id. A run's API request, its start, chunk
// and solve tasks thus form one trace, each span with the run id as an attribute.
package tracing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Span attributes of the domain.
const (
	AttrProjectID = attribute.Key("linkage.project_id")
	AttrRunID     = attribute.Key("linkage.run_id")
	AttrChunk     = attribute.Key("linkage.chunk")
	AttrTaskKind  = attribute.Key("linkage.task.kind")
)

const instrumentation = "github.com/linkage-platform/linkage"

// Config says where spans go.
type Config struct {
	// Endpoint of the OTLP/gRPC collector, "host:port" or a URL (http:// means no TLS);
	// empty disables tracing.
	Endpoint string
	// Insecure disables TLS for a "host:port" endpoint.
	Insecure bool
	// SampleRatio is the fraction of new traces recorded (children follow their parent).
	SampleRatio float64
	// Service is service.name; Role (serve, worker, all-in-one) is linkage.role.
	Service, Role, Version string
}

// Setup installs the global tracer provider and propagator. With no endpoint it installs only
// the propagator (so trace context still passes through) and spans are no-ops. The returned
// function flushes and stops the exporter.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if cfg.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	var opts []otlptracegrpc.Option
	if strings.Contains(cfg.Endpoint, "://") {
		opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
	} else {
		opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", cfg.Endpoint, err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(cfg.Service), semconv.ServiceVersion(cfg.Version), attribute.String("linkage.role", cfg.Role))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(5*time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Tracer is the service's tracer (a no-op until Setup installs a provider).
func Tracer() trace.Tracer { return otel.Tracer(instrumentation) }

// WithSpan returns ctx carrying the span of from: for work detached from a context's
// cancellation that still belongs to its trace.
func WithSpan(ctx, from context.Context) context.Context {
	return trace.ContextWithSpan(ctx, trace.SpanFromContext(from))
}
