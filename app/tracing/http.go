package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// StartRequest starts the server span of r, continuing a trace the client propagated
// (traceparent header). Call the returned function when the response is written, with the
// route pattern and the status.
func StartRequest(r *http.Request) (*http.Request, func(route string, status int)) {
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := Tracer().Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path)))
	r = r.WithContext(ctx)
	return r, func(route string, status int) {
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route), semconv.HTTPResponseStatusCode(status))
		// The mux has matched the request by now: its ids name what the request touched.
		if pid := r.PathValue("pid"); pid != "" {
			span.SetAttributes(AttrProjectID.String(pid))
		}
		if rid := r.PathValue("rid"); rid != "" {
			span.SetAttributes(AttrRunID.String(rid))
		}
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
}

// Annotate adds attributes to the current span of r (e.g. the id of a run just created).
func Annotate(r *http.Request, attrs ...attribute.KeyValue) {
	trace.SpanFromContext(r.Context()).SetAttributes(attrs...)
}
