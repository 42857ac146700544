package main

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/linkage-platform/linkage/app/tracing"
)

type tracingFlags struct {
	endpoint *string
	insecure *bool
	ratio    *float64
}

func registerTracing(f *flags) *tracingFlags {
	return &tracingFlags{
		endpoint: f.String("otlp-endpoint", "", "OpenTelemetry collector (OTLP/gRPC) receiving traces, host:port or http(s)://host:port (empty: no tracing)"),
		insecure: f.Bool("otlp-insecure", false, "connect to a host:port --otlp-endpoint without TLS"),
		ratio:    f.Float64("trace-sample-ratio", 1, "fraction of new traces recorded, 0..1 (traces continued from a client follow the client's choice)"),
	}
}

func (t *tracingFlags) validate() error {
	if *t.ratio < 0 || *t.ratio > 1 || math.IsNaN(*t.ratio) {
		return errors.New("--trace-sample-ratio must be in [0, 1]")
	}
	return nil
}

// setup starts tracing for the command role; the returned function flushes pending spans.
func (t *tracingFlags) setup(ctx context.Context, log *slog.Logger, role string) (func(), error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	shutdown, err := tracing.Setup(ctx, tracing.Config{Endpoint: *t.endpoint, Insecure: *t.insecure,
		SampleRatio: *t.ratio, Service: "linkage", Role: role, Version: version})
	if err != nil {
		return nil, err
	}
	if *t.endpoint != "" {
		log.Info("tracing", "otlp_endpoint", *t.endpoint, "sample_ratio", *t.ratio)
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}, nil
}
