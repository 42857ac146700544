package migration

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestLoadOrdersByVersion(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("B")},
		"m/0002_init.sql":  {Data: []byte("A")},
		"m/README.md":      {Data: []byte("not a migration")},
	}
	ms, err := Load(fsys, "m")
	require.NoError(t, err)
	require.Equal(t, []File{{2, "0002_init.sql", "A"}, {10, "0010_later.sql", "B"}}, ms)
}

func TestLoadErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		fsys fstest.MapFS
		want string
	}{
		"bad name":  {fstest.MapFS{"m/init.sql": {}}, `migration "init.sql": name must start with a positive version`},
		"zero":      {fstest.MapFS{"m/0000_x.sql": {}}, "positive version"},
		"duplicate": {fstest.MapFS{"m/0001_a.sql": {}, "m/1_b.sql": {}}, "share version 1"},
		"empty":     {fstest.MapFS{"m/x.txt": {}}, "no migrations in m"},
		"no dir":    {fstest.MapFS{}, "read migrations"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(tc.fsys, "m")
			require.ErrorContains(t, err, tc.want)
		})
	}
}
