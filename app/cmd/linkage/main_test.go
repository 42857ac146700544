package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"nope"}, &out, &errOut)
	require.ErrorContains(t, err, `unknown command "nope"`)
	require.Contains(t, errOut.String(), "commands:")
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"version"}, &out, &out))
	require.Equal(t, version+"\n", out.String())
}
