package rate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMeter(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMeter(10 * time.Second)
	m.now = func() time.Time { return now }
	m.Add(50)
	now = now.Add(5 * time.Second)
	m.Add(50)
	require.InDelta(t, 10.0, m.Rate(), 1e-9)
	now = now.Add(6 * time.Second) // the first second left the window
	require.InDelta(t, 5.0, m.Rate(), 1e-9)
	now = now.Add(time.Minute)
	require.Zero(t, m.Rate())
}
