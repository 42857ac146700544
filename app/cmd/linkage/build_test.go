package main

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// poolLevel is the x86-64 level of the oldest CPU in the worker pools: r3's
// Ivy Bridge has POPCNT and SSE4.2 but no AVX2, so v2. A binary built for a
// higher level refuses to start there.
const poolLevel = "v2"

// TestBuildRunsOnOldestPoolCPU builds the binary the way make build does and
// checks the level it requires, and that the image's Dockerfile builds for
// the same level.
func TestBuildRunsOnOldestPoolCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root := filepath.Join("..", "..", "..")
	bin := filepath.Join(t.TempDir(), "linkage")
	cmd := exec.Command("make", "-s", "build", "BIN="+bin, "VERSION=test")
	cmd.Dir = root
	for _, kv := range os.Environ() { // the Makefile's default, not the caller's
		if !strings.HasPrefix(kv, "GOAMD64=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make build: %s", out)
	info, err := buildinfo.ReadFile(bin)
	require.NoError(t, err)
	level := "v1" // what Go assumes when the setting is absent
	for _, s := range info.Settings {
		if s.Key == "GOAMD64" {
			level = s.Value
		}
	}
	require.LessOrEqual(t, level, poolLevel, "make build requires x86-64-%s, the pools' oldest CPU is %s", level, poolLevel)
	require.Equal(t, poolLevel, level, "make build should use all the oldest pool CPU offers (POPCNT)")

	dockerfile, err := os.ReadFile(filepath.Join(root, "app", "Dockerfile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^ENV .*\bGOAMD64=(v[1-4])\b`).FindSubmatch(dockerfile)
	require.NotNil(t, m, "app/Dockerfile sets no GOAMD64 in an ENV line")
	require.Equal(t, poolLevel, string(m[1]), "app/Dockerfile")
}
