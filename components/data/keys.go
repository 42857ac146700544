package data

// Keys of the Secrets handed to the app (see the package doc).
const (
	KeyDatabaseURL     = "DATABASE_URL"
	KeyRedisURL        = "REDIS_URL"
	KeyBlobURL         = "BLOB_URL"
	KeyRegion          = "AWS_REGION"
	KeyAccessKeyID     = "AWS_ACCESS_KEY_ID"
	KeySecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	// KeyPostgresCA holds the CA bundle DATABASE_URL's sslrootcert names (managed mode): the app mounts
	// this key of the Postgres Secret at PostgresCAPath.
	KeyPostgresCA = "ca.pem"
)

// PostgresCADir is where the app mounts KeyPostgresCA; PostgresCAPath is the file.
const (
	PostgresCADir  = "/etc/linkage/postgres-ca"
	PostgresCAPath = PostgresCADir + "/" + KeyPostgresCA
)

// Mode says how one data service is provided.
type Mode string

// The three modes of every data service.
const (
	Managed   Mode = "managed"
	InCluster Mode = "in-cluster"
	External  Mode = "external"
)

// Modes lists the valid modes, for validation messages.
var Modes = []Mode{Managed, InCluster, External}

// Valid reports whether m is one of Modes.
func (m Mode) Valid() bool {
	for _, v := range Modes {
		if m == v {
			return true
		}
	}
	return false
}
