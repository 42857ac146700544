package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSmokeNeedsAURL(t *testing.T) {
	t.Setenv("LINKAGE_SMOKE_URL", "")
	var out bytes.Buffer
	err := run(context.Background(), []string{"smoke"}, &out, &out)
	require.ErrorContains(t, err, "--url")
}
