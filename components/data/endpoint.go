package data

import (
	"fmt"
	"net"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// hostPort joins an endpoint's parts, bracketing IPv6 hosts.
func hostPort(host pulumi.StringOutput, port pulumi.IntOutput) pulumi.StringOutput {
	return pulumi.All(host, port).ApplyT(func(v []any) string {
		return net.JoinHostPort(v[0].(string), strconv.Itoa(v[1].(int)))
	}).(pulumi.StringOutput)
}

// SplitEndpoint parses an external service's host:port (stacks/ validates the configured one with it).
func SplitEndpoint(endpoint string) (string, int, error) {
	host, p, err := net.SplitHostPort(endpoint)
	if err != nil {
		return "", 0, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("endpoint %q: want host:port with a port in 1..65535", endpoint)
	}
	return host, port, nil
}
