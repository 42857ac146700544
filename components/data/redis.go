package data

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const redisPort = 6379

// RedisArgs configure the queue's Redis.
type RedisArgs struct {
	Mode Mode `json:"mode"`

	Managed   *ManagedRedisArgs `json:"managed"`
	InCluster *InClusterArgs    `json:"inCluster"`
	External  *ExternalArgs     `json:"external"`
}

// ManagedRedisArgs size the ElastiCache replication group.
type ManagedRedisArgs struct {
	EngineVersion string `json:"engineVersion"`
	NodeType      string `json:"nodeType"`
	// Replicas beside the primary; HighAvailability needs at least one.
	Replicas int `json:"replicas"`
	// HighAvailability turns on automatic failover and Multi-AZ.
	HighAvailability      bool `json:"highAvailability"`
	SnapshotRetentionDays int  `json:"snapshotRetentionDays"`
}

// Redis is the queue's Redis, whatever its mode.
type Redis struct {
	pulumi.ResourceState

	Mode Mode
	// Endpoint is host:port of the primary.
	Endpoint pulumi.StringOutput
	Host     pulumi.StringOutput
	Port     pulumi.IntOutput
	// SecretName is the Kubernetes Secret holding REDIS_URL.
	SecretName pulumi.StringOutput
}

func newRedis(ctx *pulumi.Context, name string, shared sharedArgs, args RedisArgs, opts ...pulumi.ResourceOption) (*Redis, error) {
	r := &Redis{Mode: args.Mode}
	if err := ctx.RegisterComponentResource("linkage:components:Redis", name, r, opts...); err != nil {
		return nil, fmt.Errorf("redis %s: register: %w", name, err)
	}
	var err error
	switch args.Mode {
	case Managed:
		err = r.managed(ctx, name, shared, args)
	case InCluster:
		err = r.inCluster(ctx, name, shared, args)
	case External:
		err = r.external(args)
	}
	if err != nil {
		return nil, fmt.Errorf("redis %s (%s): %w", name, args.Mode, err)
	}
	r.Endpoint = hostPort(r.Host, r.Port)
	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{
		"mode":       pulumi.String(string(r.Mode)),
		"endpoint":   r.Endpoint,
		"secretName": r.SecretName,
	}); err != nil {
		return nil, fmt.Errorf("redis %s: register outputs: %w", name, err)
	}
	return r, nil
}

func (r *Redis) managed(ctx *pulumi.Context, name string, shared sharedArgs, args RedisArgs) error {
	m := args.Managed
	parent := pulumi.Parent(r)
	token, err := newPassword(ctx, name+"-auth", 64, parent)
	if err != nil {
		return err
	}
	subnets, err := elasticache.NewSubnetGroup(ctx, name, &elasticache.SubnetGroupArgs{
		Description: pulumi.String("linkage Redis: private subnets only"),
		SubnetIds:   shared.aws.PrivateSubnetIDs,
	}, parent)
	if err != nil {
		return fmt.Errorf("subnet group: %w", err)
	}
	sg, err := clientOnlySecurityGroup(ctx, name, "linkage Redis", redisPort, shared, parent)
	if err != nil {
		return err
	}
	group, err := elasticache.NewReplicationGroup(ctx, name, &elasticache.ReplicationGroupArgs{
		Description:              pulumi.String("linkage job queue"),
		Engine:                   pulumi.String("redis"),
		EngineVersion:            pulumi.String(m.EngineVersion),
		NodeType:                 pulumi.String(m.NodeType),
		NumCacheClusters:         pulumi.Int(1 + m.Replicas),
		AutomaticFailoverEnabled: pulumi.Bool(m.HighAvailability),
		MultiAzEnabled:           pulumi.Bool(m.HighAvailability),
		Port:                     pulumi.Int(redisPort),
		SubnetGroupName:          subnets.Name,
		SecurityGroupIds:         pulumi.StringArray{sg.ID()},
		TransitEncryptionEnabled: pulumi.Bool(true),
		AtRestEncryptionEnabled:  pulumi.Bool(true),
		AuthToken:                token.Result,
		SnapshotRetentionLimit:   pulumi.Int(m.SnapshotRetentionDays),
		AutoMinorVersionUpgrade:  pulumi.Bool(true),
	}, parent, pulumi.AdditionalSecretOutputs([]string{"authToken"}))
	if err != nil {
		return fmt.Errorf("replication group: %w", err)
	}
	r.Host = group.PrimaryEndpointAddress
	r.Port = pulumi.Int(redisPort).ToIntOutput()
	redisURL := pulumi.All(token.Result, group.PrimaryEndpointAddress).ApplyT(func(v []any) string {
		return redisURLOf("rediss", v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
	secret, err := newSecret(ctx, name, shared.namespace, "redis", pulumi.StringMap{KeyRedisURL: redisURL}, parent)
	if err != nil {
		return err
	}
	r.SecretName = secret.Metadata.Name().Elem()
	return nil
}

func (r *Redis) inCluster(ctx *pulumi.Context, name string, shared sharedArgs, args RedisArgs) error {
	parent := pulumi.Parent(r)
	password, err := newPassword(ctx, name, 32, parent)
	if err != nil {
		return err
	}
	host := serviceHost(name, shared.namespace)
	redisURL := pulumi.All(password.Result, host).ApplyT(func(v []any) string {
		return redisURLOf("redis", v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
	secret, err := newSecret(ctx, name, shared.namespace, "redis", pulumi.StringMap{
		"REDIS_PASSWORD": password.Result,
		KeyRedisURL:      redisURL,
	}, parent)
	if err != nil {
		return err
	}
	secretName := secret.Metadata.Name().Elem()
	ping := execProbe("sh", "-c", "redis-cli -h 127.0.0.1 -p "+strconv.Itoa(redisPort)+" ping | grep -q PONG")
	if _, err := newStatefulService(ctx, statefulService{
		name:      name,
		component: "redis",
		namespace: shared.namespace,
		selector:  shared.nodeSelector,
		spec:      *args.InCluster,
		uid:       999, // the redis user of the official image
		port:      redisPort,
		// The password goes through a private file, never the command line.
		command: []string{"sh", "-c", `umask 077 && printf 'requirepass %s\n' "$REDIS_PASSWORD" > /tmp/redis.conf && exec redis-server /tmp/redis.conf --dir /data --appendonly yes --appendfsync everysec`},
		env: corev1.EnvVarArray{
			secretEnv("REDIS_PASSWORD", secretName, "REDIS_PASSWORD"),
			secretEnv("REDISCLI_AUTH", secretName, "REDIS_PASSWORD"), // for the probes' redis-cli
		},
		dataPath:  "/data",
		scratch:   []string{"/tmp"},
		readiness: ping,
		liveness:  ping,
	}, parent, pulumi.DependsOn(shared.dependsOn)); err != nil {
		return err
	}
	r.Host = host
	r.Port = pulumi.Int(redisPort).ToIntOutput()
	r.SecretName = secretName
	return nil
}

func (r *Redis) external(args RedisArgs) error {
	host, port, err := SplitEndpoint(args.External.Endpoint)
	if err != nil {
		return err
	}
	r.Host = pulumi.String(host).ToStringOutput()
	r.Port = pulumi.Int(port).ToIntOutput()
	r.SecretName = pulumi.String(args.External.SecretName).ToStringOutput()
	return nil
}

// redisURLOf is a go-redis URL authenticating with a password only
// (Redis AUTH, as ElastiCache's AUTH token).
func redisURLOf(scheme, password, host string) string {
	u := url.URL{
		Scheme: scheme,
		User:   url.UserPassword("", password),
		Host:   net.JoinHostPort(host, strconv.Itoa(redisPort)),
		Path:   "/0",
	}
	return u.String()
}
