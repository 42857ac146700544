package main

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkage-platform/linkage/app/engine"
)

// The Dice kernel tier: --kernel (LINKAGE_KERNEL) forces one, refused at
// start-up when unknown or when this CPU lacks its instructions.

func kernelUsage() string {
	return "Dice kernel tier: " + strings.Join(engine.KernelTiers(), ", ") + " (empty: the fastest this CPU runs)"
}

func useKernel(name string) error {
	if err := engine.UseKernel(name); err != nil {
		return fmt.Errorf("--kernel (LINKAGE_KERNEL): %w", err)
	}
	return nil
}

// kernelInfo is the gauge linkage_kernel_info{tier="..."} 1 naming the tier in use.
func kernelInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "linkage_kernel_info",
		Help: "The Dice kernel tier this process compares with (value 1).",
	}, []string{"tier"})
	g.WithLabelValues(engine.KernelName()).Set(1)
	return g
}
